# "Multiple" baseline: one shared trunk, split before the task heads.
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py',
]
model = dict(
    backbone=dict(
        _delete_=True, type='VGGLargeFOV', depth=16,
        norm_cfg={{_base_.norm_cfg}}))
