# A dense + image-level task set from config alone: segmentation + normals +
# image classification (the dominant object of the generated scene, 9
# classes). The scene task gets its own VGG column joined by the same kind
# of candidate edges (3 x 2 x 24 = 144), an ImageClassificationHead on its
# last block, and mmpretrain's Accuracy in the evaluator.
_base_ = [
    './mtlnas_vgg-tiny_synthetic.py', '../_base_/tasks/synthetic_scene.py'
]
model = dict(network=dict(tasks=dict(scene={{_base_.scene_task}})))
train_dataloader = dict(dataset={{_base_.scene_dataset}})
val_dataloader = dict(dataset={{_base_.scene_dataset}})
test_dataloader = val_dataloader
val_evaluator = {{_base_.scene_evaluator}}
test_evaluator = val_evaluator
