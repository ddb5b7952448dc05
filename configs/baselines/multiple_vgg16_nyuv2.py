# "Multiple" baseline: one shared trunk, split before the task heads
# (spec section 8).
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py',
]
model = dict(neck=None, share_backbone=True)
