# "Multiple" baseline: one shared trunk, split before the task heads.
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py',
]
model = dict(
    backbone=dict(
        _delete_=True, type='VGGLargeFOV', depth=16, base_channels=8,
        norm_cfg={{_base_.norm_cfg}}))
