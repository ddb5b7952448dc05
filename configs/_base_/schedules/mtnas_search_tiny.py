# First-order DARTS search of MTNAS cells, shortened for CPU runs on
# generated data: 600 iterations alternating an architecture step (Adam,
# constant lr, on the held-out half) and a weight step (SGD, poly, on the
# training half) of a 50/50 split redrawn every pass. DARTS' recipe is
# SGD lr 0.025 / Adam lr 3e-4; from scratch on tiny data both are raised.
# No entropy term (plain DARTS: the regulariser weight stays 0).
max_iters = 600
optim_wrapper = dict(
    constructor='BilevelOptimWrapperConstructor',
    weight=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='SGD', lr=0.025, momentum=0.9, weight_decay=3e-4),
        clip_grad=dict(max_norm=5.0)),
    arch=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3)))
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
    val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=200,
        max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    task_check=dict(type='TaskCheckHook'))
# the genotype files of every space (arch/arch_final.json: the next stage's
# input) and the op-weight history
custom_hooks = [dict(type='ArchitectureHook', interval=200,
                     history_interval=10)]
# DDP keeps find_unused_parameters=False: every trainable parameter gets a
# gradient (a fixed space's unchosen ops are not trainable)
model_wrapper_cfg = dict(type='mmseg.NASDistributedDataParallel')
randomness = dict(seed=1)
