# The depth task of a tiny MTNAS config: its own decoder branch, a
# DenseRegressionHead at stride 4. A named field, so a stage config merges
# it into its own task dict without duplicate base keys; the data with
# depth maps and the three-task evaluator are
# ../datasets/synthetic_seg_normal_depth.py.
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
