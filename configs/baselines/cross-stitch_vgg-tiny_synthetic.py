# Cross-stitch baseline: scalar mixing after each block (spec section 8).
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal.py',
    '../_base_/necks/cross_stitch.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py',
]
model = dict(neck={{_base_.neck}})
