# Baseline schedule (single-task, multiple, cross-stitch, NDDR, supernet):
# the same SGD/poly recipe as the search's weight step. Configs with
# cross-task edges add 'backbone.edges': dict(lr_mult=100.0) (the fusion ops,
# as in the search); a custom key that matches no parameter is an error.
max_iters = 20000
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='StrictOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=2.5e-4),
    paramwise_cfg=dict(
        custom_keys={
            'conv_seg.weight': dict(lr_mult=10.0),
            'conv_seg.bias': dict(lr_mult=20.0),
        }))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # heads vs data set: num_classes and the ground truth each task needs
    task_check=dict(type='TaskCheckHook'))
# mmengine's DDP wrapper, also for CPU modules (gloo)
model_wrapper_cfg = dict(type='mmseg.DeviceAwareDistributedDataParallel')
randomness = dict(seed=1)
