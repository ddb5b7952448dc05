# Two DeepLab-LargeFOV VGG-16 (BN) networks, one per task: 40-class
# segmentation and surface normals (spec sections 1.1, 6.1). No neck here:
# configs add the fusion neck (search, NDDR, cross-stitch, supernet) or keep
# the networks apart (single-task).
norm_cfg = dict(type='BN', eps=1e-3, momentum=0.05)
data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8)
model = dict(
    type='MultiTaskSupernet',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='VGGLargeFOV', depth=16, norm_cfg=norm_cfg),
    tasks=dict(
        seg=dict(
            head=dict(
                type='LargeFOVHead',
                in_channels=512,
                channels=1024,
                num_classes=40,
                norm_cfg=norm_cfg,
                align_corners=True,
                loss_decode=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=False,
                    avg_non_ignore=True,
                    loss_weight=1.0))),
        normal=dict(
            head=dict(
                type='DenseRegressionHead',
                task='normal',
                align_corners=True,
                decoder=dict(
                    type='LargeFOVHead',
                    in_channels=512,
                    channels=1024,
                    num_classes=3,
                    norm_cfg=norm_cfg),
                # L = L_seg + 20 * L_normal (spec section 6.1)
                loss=dict(type='CosineNormalLoss', loss_weight=20.0)))),
    # gate modes of the two steps of a search (ignored without a neck)
    train_cfg=dict(arch_gate_mode='sigmoid', weight_gate_mode='relaxed'),
    test_cfg=dict(mode='whole'))
