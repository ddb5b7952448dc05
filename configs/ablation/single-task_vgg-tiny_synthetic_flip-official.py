# Option measurement: the official flip (normal maps mirrored without
# negating x), otherwise the reference.  mmengine's inheritance replaces a
# list whole, so the train pipeline is restated; only the flip differs.
_base_ = ['./single-task_vgg-tiny_synthetic_both-normal-spaces.py']
crop_size = (96, 128)
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadMultiTaskImage'),
        dict(type='LoadSegMap'),
        dict(type='LoadNormalMap'),
        dict(
            type='RandomResize',
            scale=(128, 96),
            ratio_range=(0.75, 1.25),
            resize_type='NormalAwareResize',
            keep_ratio=True),
        dict(type='MultiTaskPad', size=crop_size),
        dict(type='RandomCrop', crop_size=crop_size),
        dict(type='NormalAwareRandomFlip', prob=0.5, negate_components=False),
        dict(type='PackMultiTaskInputs'),
    ]))
