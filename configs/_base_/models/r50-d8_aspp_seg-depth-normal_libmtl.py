# The network of LibMTL's NYUv2 benchmark (examples/nyu: a dilated
# ResNet-50, output stride 8, ImageNet weights; one ASPP head of 256
# channels per task) as three task columns of ./r50_seg_normal.py: 13-class
# segmentation, depth and normals, every loss weight 1 (LibMTL's equal
# weighting: cross-entropy, L1 depth and 1 - cosine over valid pixels).
# The input is scaled to [0, 1] without mean/std, as LibMTL feeds it.
# Differences from LibMTL's network: mmseg's ResNetV1c deep stem (three 3x3
# convs; LibMTL has torchvision's 7x7), mmseg's ASPPHead (the 3x3
# bottleneck conv on the concatenated branches, dropout before the
# classifier; LibMTL projects with a 1x1 conv, drops out 0.5, then a 3x3
# conv) and a softplus on the depth output (LibMTL's is linear).
_base_ = ['./r50_seg_normal.py']
norm_cfg = dict(type='BN', requires_grad=True)
aspp = dict(
    type='ASPPHead',
    in_channels=2048,
    in_index=3,
    channels=256,
    dilations=(1, 12, 24, 36),
    dropout_ratio=0.1,
    norm_cfg=norm_cfg,
    align_corners=False)
data_preprocessor = dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0])
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        backbone=dict(
            init_cfg=dict(
                type='Pretrained',
                checkpoint='open-mmlab://resnet50_v1c'))),
    tasks=dict(
        seg=dict(head=dict(channels=256, num_classes=13)),
        depth=dict(
            head=dict(
                type='DenseRegressionHead',
                task='depth',
                decoder=aspp,
                loss=dict(type='MaskedDepthLoss', mode='l1',
                          loss_weight=1.0))),
        normal=dict(
            head=dict(
                decoder=dict(channels=256),
                loss=dict(type='CosineNormalLoss', loss_weight=1.0)))))
