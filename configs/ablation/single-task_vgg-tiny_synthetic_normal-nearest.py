# Option measurement: normals resized nearest (official), otherwise the
# reference.  mmengine's inheritance replaces a list whole, so the train
# pipeline is restated; only the resize's normal_interpolation differs.
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
            keep_ratio=True,
            normal_interpolation='nearest'),
        dict(type='MultiTaskPad', size=crop_size),
        dict(type='RandomCrop', crop_size=crop_size),
        dict(type='NormalAwareRandomFlip', prob=0.5),
        dict(type='PackMultiTaskInputs'),
    ]))
