# Single-task baseline: the two networks trained side by side with the
# summed loss and no interaction.
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py',
]
