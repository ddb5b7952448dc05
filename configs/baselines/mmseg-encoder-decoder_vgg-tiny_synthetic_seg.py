# The reference a user trusts: mmseg's own EncoderDecoder with the project's
# backbone and head (the seg column of single-task_vgg-tiny_synthetic.py:
# 1/8-width VGG-16 LargeFOV + LargeFOVHead), the same data, pipeline and
# schedule, segmentation only. Its mIoU should match the project's
# single-task segmentation column over seeds.
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py',
]
model = dict(
    _delete_=True,
    type='EncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='VGGLargeFOV', depth=16, base_channels=8,
        norm_cfg={{_base_.norm_cfg}}),
    decode_head={{_base_.model.tasks.seg.head}},
    test_cfg=dict(mode='whole'))
val_evaluator = dict(
    _delete_=True,
    type='MultiTaskEvaluator',
    metrics=[dict(type='AllClassIoUMetric', iou_metrics=['mIoU'])])
test_evaluator = val_evaluator
