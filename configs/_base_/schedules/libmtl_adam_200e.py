# LibMTL's NYUv2 recipe (examples/nyu/main.py, LibMTL/config.py defaults,
# --scheduler step): Adam, lr 1e-4, weight decay 1e-5, no per-layer lr
# multipliers; StepLR halving the lr after 100 of 200 epochs; batch 8 with
# drop_last over 795 images = 99 iterations per epoch, so 200 epochs =
# 19,800 iterations. Validation every 10 epochs (LibMTL tests every epoch
# and keeps the best test epoch; the project reports the last).
_base_ = ['./schedule_20k.py']
iters_per_epoch = 99
max_iters = 200 * iters_per_epoch
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='StrictOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-5))
param_scheduler = [
    dict(
        type='MultiStepLR',
        milestones=[100 * iters_per_epoch],
        gamma=0.5,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=10 * iters_per_epoch)
default_hooks = dict(
    checkpoint=dict(interval=50 * iters_per_epoch, max_keep_ckpts=2))
randomness = dict(seed=0)
