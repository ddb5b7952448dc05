# Stage 1 (branch search) with three tasks: segmentation + normals + depth;
# one searched branch per task.
_base_ = [
    './mtnas_cells-tiny_synthetic_stage1-branches.py',
    '../_base_/tasks/mtnas-tiny_depth.py'
]
model = dict(network=dict(tasks=dict(depth={{_base_.depth_task}})))
train_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = {{_base_.depth_evaluator}}
test_evaluator = val_evaluator
