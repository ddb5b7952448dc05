# The reference of the option measurements (README, "Differences from the
# official code"): the tiny single-task pair, its normal angles reported in
# both spaces (true and raw PNG).
_base_ = ['../baselines/single-task_vgg-tiny_synthetic.py']
_ev = dict(type='MultiTaskEvaluator', metrics=[
    dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
    dict(type='SurfaceNormalMetric', spaces=('unit', 'raw'))])
test_evaluator = _ev
