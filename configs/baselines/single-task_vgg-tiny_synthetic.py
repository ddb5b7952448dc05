# Single-task baseline: the two networks trained side by side with the
# summed loss and no interaction.
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py',
]
