# Generated NYUv2-like scenes (tools/dataset_converters/make_synthetic_nyuv2.py) in the layout
# of the official NDDR-CNN / MTL-NAS release: 40-class labels + normals.
# Small images so a search runs in minutes on a CPU; the crops are the whole
# 96x128 image (after the random scale): measured over the demo's budget,
# 64x64 crops left the normals column at 38.6 degrees (one seed, 600 it)
# against 31.5 with whole-image crops (it needs the room's context to tell
# which wall it sees).
dataset_type = 'NYUv2MultiTaskDataset'
data_root = 'data/synthetic_nyuv2'
crop_size = (96, 128)
# the annotations each sample loads; the depth_* pipelines (used by
# ./synthetic_seg_normal_depth.py) load depth maps too
load_annotations = [dict(type='LoadSegMap'), dict(type='LoadNormalMap')]
load_depth_annotations = [*load_annotations, dict(type='LoadDepthMap')]
train_augmentations = [
    dict(
        type='RandomResize',
        scale=(128, 96),
        ratio_range=(0.75, 1.25),
        resize_type='NormalAwareResize',
        keep_ratio=True),
    dict(type='MultiTaskPad', size=crop_size),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='NormalAwareRandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadMultiTaskImage'), *load_annotations, *train_augmentations,
    dict(type='PackMultiTaskInputs')
]
test_pipeline = [
    dict(type='LoadMultiTaskImage'), *load_annotations,
    dict(type='PackMultiTaskInputs')
]
depth_train_pipeline = [
    dict(type='LoadMultiTaskImage'), *load_depth_annotations,
    *train_augmentations,
    dict(type='PackMultiTaskInputs')
]
depth_test_pipeline = [
    dict(type='LoadMultiTaskImage'), *load_depth_annotations,
    dict(type='PackMultiTaskInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
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
# the three-task evaluator of the depth configs
depth_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric'),
        dict(type='PooledDepthMetric'),
    ])
