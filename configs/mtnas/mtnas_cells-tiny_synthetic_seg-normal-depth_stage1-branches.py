# Stage 1 (branch search) with three tasks: segmentation + normals + depth;
# one searched branch per task.
_base_ = [
    '../_base_/mtnas/mtnas_stage1-branches.py',
    '../_base_/datasets/synthetic_seg_normal_depth.py',
    '../_base_/tasks/mtnas-tiny_depth.py'
]
model = dict(network=dict(tasks=dict(depth={{_base_.depth_task}})))
