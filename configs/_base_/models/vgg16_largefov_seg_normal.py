# Two DeepLab-LargeFOV VGG-16 (BN) networks, one per task: 40-class
# segmentation and surface normals (Gao et al., CVPR 2020, Sec. 4.1). No
# cross-task edges here: configs add them (search, NDDR, cross-stitch,
# supernet: backbone.edges) or keep the columns apart (single-task).
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
    type='MultiTaskNetwork',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='TaskColumns',
        backbone=dict(type='VGGLargeFOV', depth=16, norm_cfg=norm_cfg)),
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
                # L = L_seg + 20 * L_normal (MTL-NAS recipe)
                loss=dict(type='CosineNormalLoss', loss_weight=20.0)))),
    test_cfg=dict(mode='whole'))
