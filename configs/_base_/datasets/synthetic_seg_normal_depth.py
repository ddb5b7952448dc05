# The generated scenes of ./synthetic_seg_normal.py with their depth maps
# too: seg + normals + depth (the generator writes depth/ beside normal/),
# the three-task evaluator.  Configs with a depth task list it instead of
# ./synthetic_seg_normal.py and add the depth head to model.tasks.
_base_ = ['./synthetic_seg_normal.py']
train_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = {{_base_.depth_evaluator}}
test_evaluator = val_evaluator
