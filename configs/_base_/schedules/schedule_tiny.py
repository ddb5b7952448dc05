# Baseline recipe shortened like search_tiny.py (same iterations and lr as
# the search's weight step, for a fair comparison).
_base_ = ['./schedule_20k.py']
max_iters = 600
optimizer = dict(type='SGD', lr=1e-2, momentum=0.9, weight_decay=2.5e-4)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=200, max_keep_ckpts=2))
