# What a tiny MTNAS config adds for a depth task (its own decoder branch, a
# DenseRegressionHead at stride 4), the depth-loading pipelines and the
# three-task evaluator. Named fields, so a stage config merges them into
# its own task dict / dataloaders without duplicate base keys.
depth_task = dict(
    head=dict(
        type='DenseRegressionHead',
        task='depth',
        align_corners=False,
        decoder=dict(
            type='FCNHead',
            in_channels=16,
            channels=16,
            num_convs=0,
            concat_input=False,
            in_index=0,
            num_classes=1),
        loss=dict(type='MaskedDepthLoss', loss_weight=1.0)))
depth_train_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap'),
    dict(type='LoadDepthMap'),
    dict(
        type='RandomResize',
        scale=(128, 96),
        ratio_range=(0.75, 1.25),
        resize_type='NormalAwareResize',
        keep_ratio=True),
    dict(type='MultiTaskPad', size=(64, 64)),
    dict(type='RandomCrop', crop_size=(64, 64)),
    dict(type='NormalAwareRandomFlip', prob=0.5),
    dict(type='PackMultiTaskInputs'),
]
depth_test_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap'),
    dict(type='LoadDepthMap'),
    dict(type='PackMultiTaskInputs'),
]
depth_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric'),
        dict(type='PooledDepthMetric'),
    ])
