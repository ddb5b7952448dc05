# The MTNAS network (Liu et al., ACCV 2020) at CPU size: a shared trunk of
# DARTS cells (stem to stride 4, 4 cells, reductions at cells 1, 2, 3: taps
# at strides 4/8/16/32) and one FPN-like decoder branch of cells per task,
# each ending in the task's head at stride 4. Every part's cells are a
# search space (DartsCellSpace): the stage configs in configs/mtnas/ search
# or fix them. DARTS searches with affine-free BN in the cells.
cell_norm_cfg = dict(type='BN', affine=False)
branch_channels = 4  # cell C of the branches; features = 4 * C
feat_channels = 4 * branch_channels
data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)
model = dict(
    type='MultiTaskNetwork',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='CellMultiTaskBackbone',
        trunk=dict(
            channels=4,
            num_cells=4,
            reductions=(1, 2, 3),
            stem_multiplier=3,
            norm_cfg=cell_norm_cfg),
        branch=dict(
            channels=branch_channels, cells_per_level=1,
            norm_cfg=cell_norm_cfg)),
    tasks=dict(
        seg=dict(
            head=dict(
                type='FCNHead',
                in_channels=feat_channels,
                channels=feat_channels,
                num_convs=0,
                concat_input=False,
                in_index=0,
                num_classes=40,
                align_corners=False,
                loss_decode=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=False,
                    avg_non_ignore=True,
                    loss_weight=1.0))),
        normal=dict(
            head=dict(
                type='DenseRegressionHead',
                task='normal',
                align_corners=False,
                decoder=dict(
                    type='FCNHead',
                    in_channels=feat_channels,
                    channels=feat_channels,
                    num_convs=0,
                    concat_input=False,
                    in_index=0,
                    num_classes=3),
                # the project's normal weight (MTL-NAS recipe), so the two
                # searches see the same task balance
                loss=dict(type='CosineNormalLoss', loss_weight=20.0)))),
    test_cfg=dict(mode='whole'))
