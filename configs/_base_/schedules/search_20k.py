# MTL-NAS search schedule (Gao et al., CVPR 2020, Sec. 4): 20k iterations, alternating
# architecture (Adam, constant lr) and weight (SGD, poly) steps on a 50/50
# split of the training set that is redrawn every pass.
max_iters = 20000
optim_wrapper = dict(
    constructor='BilevelOptimWrapperConstructor',
    weight=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='SGD', lr=1e-3, momentum=0.9, weight_decay=2.5e-4),
        paramwise_cfg=dict(
            custom_keys={
                # fusion ops x100, classifiers x10 (weights) / x20 (biases)
                'backbone.edges': dict(lr_mult=100.0),
                'conv_seg.weight': dict(lr_mult=10.0),
                'conv_seg.bias': dict(lr_mult=20.0),
            })),
    arch=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=1e-3, betas=(0.5, 0.999), weight_decay=1e-3)))
# one schedule per optimizer: the architecture lr stays constant
param_scheduler = dict(
    weight=[
        dict(
            type='PolyLR',
            eta_min=0.0,
            power=0.9,
            begin=0,
            end=max_iters,
            by_epoch=False)
    ],
    arch=[])
train_cfg = dict(
    type='BilevelIterBasedTrainLoop',
    max_iters=max_iters,
    split='mixed',
    ratio=0.5,
    val_interval=1000)
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
custom_hooks = [
    # entropy weight 0 at t=0 then 10; gate temperature (1 - t/T)^2
    dict(type='MinEntropyHook', entropy_weight=10.0,
         entropy_period=(0.0, 0.0), temperature_power=2.0),
    dict(type='ArchitectureHook', interval=1000, history_interval=20),
]
# under a distributed launcher the bilevel step must run through DDP's forward
model_wrapper_cfg = dict(type='mmseg.NASDistributedDataParallel')
randomness = dict(seed=1)
