# NYUv2 40-class segmentation + surface normals, as released with NDDR-CNN /
# MTL-NAS (795 train / 654 test; list files under data_root/list).
# Training: random scale 0.5-1.5 of the shorter side, flip, pad to 321 and
# random 321x321 crop (MTL-NAS recipe); test at full 640x480 resolution.
dataset_type = 'NYUv2MultiTaskDataset'
data_root = 'data/nyu_v2'
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap'),
    dict(
        type='RandomResize',
        scale=(640, 480),
        ratio_range=(0.5, 1.5),
        resize_type='NormalAwareResize',
        keep_ratio=True),
    dict(type='NormalAwareRandomFlip', prob=0.5),
    dict(type='MultiTaskPad', size=crop_size),
    dict(type='RandomCrop', crop_size=crop_size),
    # colour jitter (hue 0.05, saturation 0.05)
    dict(
        type='PhotoMetricDistortion',
        hue_delta=9,
        saturation_range=(0.95, 1.05)),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap'),
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=10,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric'),
    ])
test_evaluator = val_evaluator
