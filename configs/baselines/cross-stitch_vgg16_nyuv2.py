# Cross-stitch baseline: scalar mixing after each block (spec section 8).
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal.py',
    '../_base_/necks/cross_stitch.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py',
]
model = dict(neck={{_base_.neck}})
