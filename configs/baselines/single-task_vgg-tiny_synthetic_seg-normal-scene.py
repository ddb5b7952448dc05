# Single-task baseline of the seg + normal + scene-classification task set:
# three independent networks, reference for the MTL-NAS config of the same
# name.
_base_ = [
    './single-task_vgg-tiny_synthetic.py',
    '../_base_/tasks/synthetic_scene.py'
]
model = dict(tasks=dict(scene={{_base_.scene_task}}))
train_dataloader = dict(dataset={{_base_.scene_dataset}})
val_dataloader = dict(dataset={{_base_.scene_dataset}})
test_dataloader = val_dataloader
val_evaluator = {{_base_.scene_evaluator}}
test_evaluator = val_evaluator
