# What a tiny MTNAS config adds for a depth task (its own decoder branch, a
# DenseRegressionHead at stride 4) and the three-task evaluator; the
# depth-loading pipelines are the data set's (depth_train_pipeline,
# depth_test_pipeline of ../datasets/synthetic_seg_normal.py). Named
# fields, so a stage config merges them into its own task dict /
# evaluators without duplicate base keys.
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
depth_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric'),
        dict(type='PooledDepthMetric'),
    ])
