# The search recipe shortened for CPU runs on generated data: 600
# iterations, trained from scratch (no pretrained backbones), so the weight
# lr is 10x the fine-tuning recipe and alpha's Adam lr is 1e-2.
_base_ = ['./search_20k.py']
max_iters = 600
optim_wrapper = dict(
    weight=dict(optimizer=dict(lr=1e-2)),
    arch=dict(optimizer=dict(lr=1e-2)))
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
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=200, max_keep_ckpts=2))
custom_hooks = [
    dict(type='MinEntropyHook', entropy_weight=10.0,
         entropy_period=(0.0, 0.0), temperature_power=2.0),
    dict(type='ArchitectureHook', interval=200, history_interval=10),
]
