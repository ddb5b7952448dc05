# MTL-NAS on NYUv2 (40-class segmentation + surface normals), two VGG-16
# DeepLab-LargeFOV networks, the official search recipe (20k iterations).
# For the paper's setting, initialise both backbones from single-task
# fine-tuned (or ImageNet) weights with init_cfg=dict(type='Pretrained', ...).
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal_mtlnas.py',
    '../_base_/datasets/nyuv2_seg_normal.py', '../_base_/default_runtime.py',
    '../_base_/schedules/search_20k.py'
]
model = dict(_delete_=True, type='MTLNAS', network={{_base_.model}})
