# Stage 3 (retrain the derived network from scratch) with three tasks.
_base_ = [
    './mtnas_cells-tiny_synthetic_stage3-retrain.py',
    '../_base_/tasks/mtnas-tiny_depth.py'
]
model = dict(tasks=dict(depth={{_base_.depth_task}}))
train_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = {{_base_.depth_evaluator}}
test_evaluator = val_evaluator
