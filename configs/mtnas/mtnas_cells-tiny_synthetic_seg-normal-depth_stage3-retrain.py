# Stage 3 (retrain the derived network from scratch) with three tasks.
_base_ = [
    '../_base_/mtnas/mtnas_stage3-retrain.py',
    '../_base_/datasets/synthetic_seg_normal_depth.py',
    '../_base_/tasks/mtnas-tiny_depth.py'
]
model = dict(tasks=dict(depth={{_base_.depth_task}}))
