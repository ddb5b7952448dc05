# Two ResNet-50 (V1c, output stride 8) networks, one per task, with ASPP
# heads. The search space has one layer per bottleneck (3, 4, 6, 3 = 16
# layers); candidate edges: same stage, source <= target, gap < 3.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8)
model = dict(
    type='MultiTaskNetwork',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='TaskColumns',
        backbone=dict(
            type='StagedResNet',
            depth=50,
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            contract_dilation=True,
            norm_cfg=norm_cfg,
            # load ImageNet weights: init_cfg=dict(type='Pretrained',
            #     checkpoint='open-mmlab://resnet50_v1c')
        )),
    tasks=dict(
        seg=dict(
            head=dict(
                type='ASPPHead',
                in_channels=2048,
                in_index=3,
                channels=512,
                dilations=(1, 12, 24, 36),
                dropout_ratio=0.1,
                num_classes=40,
                norm_cfg=norm_cfg,
                align_corners=False,
                loss_decode=dict(
                    type='CrossEntropyLoss', avg_non_ignore=True,
                    loss_weight=1.0))),
        normal=dict(
            head=dict(
                type='DenseRegressionHead',
                task='normal',
                decoder=dict(
                    type='ASPPHead',
                    in_channels=2048,
                    in_index=3,
                    channels=512,
                    dilations=(1, 12, 24, 36),
                    dropout_ratio=0.1,
                    num_classes=3,
                    norm_cfg=norm_cfg,
                    align_corners=False),
                loss=dict(type='CosineNormalLoss', loss_weight=20.0)))),
    test_cfg=dict(mode='whole'))
