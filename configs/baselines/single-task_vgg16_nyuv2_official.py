# Single-task baseline on NYUv2 (VGG-16) with the official computation of
# bhpfelix/MTLNAS (tools/train.py with MODEL.SINGLETASK=True): the options of
# ../_base_/official/mtlnas_official.py (raw normal space, colour-jitter-only
# augmentation, nearest normals, flip without negation, no conv bias, pools
# padded (0, 1), Kaiming(a=1) heads, inputs minus the mean with std 1,
# unpadded 321 crops, 20001 iterations) on top of ./single-task_vgg16_nyuv2.py
# (SGD 1e-3 / momentum 0.9 / wd 2.5e-4, fc8 x10 / x20, poly 0.9, batch 10,
# L_seg + 20 L_normal: already the official ones). Its checkpoints are the
# init_from of ../mtlnas/mtlnas_vgg16_nyuv2_official.py and
# ./nddr_vgg16_nyuv2_official.py.
#
# Remaining differences: those listed in
# ../mtlnas/mtlnas_vgg16_nyuv2_official.py (mean, 1-pixel scale rounding,
# pre-crop padding side, image decoder, random streams). The official
# single-task networks are fine-tuned from DeepLab (ImageNet/VOC) weights;
# a VGG-16-BN ImageNet init goes through
# model.backbone.backbone.init_cfg=dict(type='Pretrained', ...).
_base_ = [
    './single-task_vgg16_nyuv2.py',
    '../_base_/official/mtlnas_official.py',
]
_head_init = {{_base_.official_head_init}}
model = dict(
    data_preprocessor={{_base_.official_data_preprocessor}},
    backbone=dict(backbone={{_base_.official_backbone}}),
    tasks=dict(
        seg=dict(head=dict(conv_init_cfg=_head_init)),
        normal=dict(
            head=dict(
                decoder=dict(conv_init_cfg=_head_init),
                loss={{_base_.official_normal_loss}}))))
train_dataloader = dict(
    dataset=dict(pipeline={{_base_.official_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.official_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = {{_base_.official_evaluator}}
test_evaluator = val_evaluator
max_iters = {{_base_.official_max_iters}}
train_cfg = dict(max_iters=max_iters)
param_scheduler = {{_base_.official_weight_scheduler}}
