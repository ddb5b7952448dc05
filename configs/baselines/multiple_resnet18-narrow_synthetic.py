# "Multiple" baseline of the MTNAS comparison: a hand-made shared
# network of about the FLOPs of the tiny MTNAS derived networks. One
# mmseg ResNetV1c-18 trunk shared by both tasks, split before the heads,
# with the heads and the normal loss of the MTNAS tiny network
# (../_base_/models/mtnas-tiny_cells_seg_normal.py: 1x1 FCN classifiers,
# CosineNormalLoss x 20) and the baselines' recipe (schedule_tiny.py: 600
# iterations, SGD lr 1e-2).
# * Width: stem_channels=8, base_channels=3 (stages of 3/6/12/24 channels)
#   count 7.1 MFLOPs and 27 k parameters at 96x128
#   (mtlnas_mm.utils.model_complexity: mmengine.analysis, as
#   tools/mtnas_pipeline.py counts them); the derived tiny MTNAS networks
#   count 6.9-8.4 MFLOPs and 37-51 k parameters (searched genotypes of
#   seeds 0-2: 7.9-8.4 M, random ones 6.9-7.9 M: docs/mtnas_evidence.json;
#   the hand-made starting genotype 6.4 M / 23 k). base_channels=4
#   would count 11 MFLOPs, stem_channels=6 6.3 M, 10 8.0 M.
# * Output stride 8 (strides 1, 2, 1, 1; dilations 1, 1, 2, 4; mmseg's
#   dilated ResNetV1c for segmentation, and the stride of the VGG
#   LargeFOV baselines): the heads read 12x16 features of a 96x128 image.
#   Stride 32 (2.8 MFLOPs at this width) would leave them 3x4 (a room's
#   walls and objects are a few pixels wide there); stride 4 (the MTNAS
#   branches' output; dilations 2, 4, 8 in stages 2-4) would count 21.8
#   MFLOPs, 3x the derived networks. The heads upsample their logits to
#   the image (bilinear).
_base_ = [
    '../_base_/models/mtnas-tiny_cells_seg_normal.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py',
]
base_channels = 3
feat_channels = 8 * base_channels  # the last BasicBlock stage
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=18,
        stem_channels=8,
        base_channels=base_channels,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        out_indices=(3, ),
        contract_dilation=True,
        norm_cfg=dict(type='BN', requires_grad=True)),
    tasks=dict(
        seg=dict(
            head=dict(
                in_channels=feat_channels, channels=feat_channels)),
        normal=dict(
            head=dict(
                decoder=dict(
                    in_channels=feat_channels,
                    channels=feat_channels)))))
