# The reference of the option measurements (configs/ablation/README.md): the
# tiny single-task pair, its normal angles reported in both spaces (true and
# raw PNG).  The other single-task option configs inherit it.
_base_ = ['../baselines/single-task_vgg-tiny_synthetic.py']
test_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric', spaces=('unit', 'raw')),
    ])
