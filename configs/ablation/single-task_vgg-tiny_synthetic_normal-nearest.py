# Option measurement: normals resized nearest (official), otherwise the
# reference.
_base_ = ['../baselines/single-task_vgg-tiny_synthetic.py']
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadMultiTaskImage'), dict(type='LoadSegMap'), dict(type='LoadNormalMap'),
    dict(type='RandomResize', scale=(128, 96), ratio_range=(0.75, 1.25), resize_type='NormalAwareResize', keep_ratio=True, normal_interpolation='nearest'),
    dict(type='MultiTaskPad', size=(96, 128)), dict(type='RandomCrop', crop_size=(96, 128)),
    dict(type='NormalAwareRandomFlip', prob=0.5),
    dict(type='PackMultiTaskInputs')]))
_ev = dict(type='MultiTaskEvaluator', metrics=[
    dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
    dict(type='SurfaceNormalMetric', spaces=('unit', 'raw'))])
test_evaluator = _ev
