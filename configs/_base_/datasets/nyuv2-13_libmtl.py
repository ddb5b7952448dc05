# NYUv2-13 segmentation + depth + surface normals in the mtan / LibMTL
# preprocessed layout (data_root/{train,val}/{image,label,depth,normal}/
# <i>.npy; 795 train / 654 val images at 288x384; configs/libmtl_nyuv2/
# README.md). The protocol of LibMTL's examples/nyu: the images at their
# size, no augmentation (LibMTL's --aug is off by default and in its
# published ResNet-50 runs), batch 8 for training and testing; metrics
# pooled over every pixel of the val set, as LibMTL computes them.
dataset_type = 'NYUv2LibMTLDataset'
data_root = 'data/nyuv2_libmtl'
img_size = (288, 384)
train_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadDepthMap'),
    dict(type='LoadNormalMap'),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = train_pipeline
# LibMTL's --aug (mtan's RandomScaleCrop, then a flip that mirrors the
# normals' x): train_dataloader = dict(dataset=dict(
#     pipeline={{_base_.aug_train_pipeline}}))
aug_train_pipeline = train_pipeline[:4] + [
    dict(type='LibMTLRandomScaleCrop', scales=(1.0, 1.2, 1.5)),
    dict(type='NormalAwareRandomFlip', prob=0.5),
] + train_pipeline[4:]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU / aAcc (= LibMTL's pixAcc), depth/abs_err / depth/abs_rel
# (= rel_err), normal mean / median / within_11.25 / 22.5 / 30 (= <11.25,
# ...); LibMTLEvaluator adds delta_m and LibMTL's delta_p given a
# single-task baseline grouped by task (README "Multi-task gain").
val_evaluator = dict(
    type='LibMTLEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='LibMTLDepthMetric'),
        dict(type='LibMTLNormalMetric'),
    ])
test_evaluator = val_evaluator
