# NDDR-CNN baseline: NDDR layers after each block, init (0.9, 0.1).
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal.py',
    '../_base_/necks/nddr.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py',
]
model = dict(neck={{_base_.neck}})
