# An image-level task for the generated scenes: classify the dominant object
# of the view (9 classes, list/<split>_scene.txt written by the generator).
# Pieces that a config adds to a seg + normal config with
#     model = dict(tasks=dict(scene={{_base_.scene_task}}))
#     train_dataloader = dict(dataset={{_base_.scene_dataset}})
#     val_dataloader = dict(dataset={{_base_.scene_dataset}})
#     val_evaluator = {{_base_.scene_evaluator}}
# in_channels=64 is the last block of the 1/8-width VGG-16.  The head wraps
# mmpretrain: GlobalAveragePooling -> dropout -> LinearClsHead, the loss below
# (mmseg's CrossEntropyLoss, logged as scene.loss_ce) handed to it; another
# mmpretrain head goes in as e.g.
#     classifier=dict(type='StackedLinearClsHead', mid_channels=[128])
img_classes = ('none', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'box',
               'lamp', 'otherprop')
scene_task = dict(
    head=dict(
        type='ImageClassificationHead',
        in_channels=64,
        num_classes=len(img_classes),
        dropout_ratio=0.1,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
scene_dataset = dict(with_img_label=True, img_classes=img_classes)
scene_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric'),
        dict(type='mmpretrain.Accuracy', topk=(1, )),
    ])
