# MTL-NAS on NYUv2 (40-class segmentation + surface normals), two VGG-16
# DeepLab-LargeFOV networks, the MTL-NAS search schedule (20k iterations).
# Not yet the official computation exactly (normal space, augmentation,
# conv biases, input scaling, crop padding: README "Differences from the
# official code"). The paper's protocol starts from trained single-task
# networks: model.network.init_from=dict(seg=dict(checkpoint=...),
# normal=dict(checkpoint=...)) (README "Starting from single-task networks").
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal_mtlnas.py',
    '../_base_/datasets/nyuv2_seg_normal.py', '../_base_/default_runtime.py',
    '../_base_/schedules/search_20k.py'
]
model = dict(_delete_=True, type='MTLNAS', network={{_base_.model}})
