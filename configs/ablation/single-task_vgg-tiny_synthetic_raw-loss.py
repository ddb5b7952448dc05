# Option measurement: the normal loss in the raw PNG space (official); a
# raw-space network has raw-space angles only.
_base_ = ['./single-task_vgg-tiny_synthetic_both-normal-spaces.py']
model = dict(tasks=dict(normal=dict(head=dict(loss=dict(space='raw')))))
test_evaluator = dict(metrics=[
    dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
    dict(type='SurfaceNormalMetric', spaces=('raw', ), pred_space='raw'),
])
