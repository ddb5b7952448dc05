# The MTL-NAS search (./search_20k.py: alternating architecture and weight
# steps on a 50/50 split of the training set, minimum-entropy gates) with
# LibMTL's weight recipe (./libmtl_adam_200e.py): Adam, lr 1e-4, weight
# decay 1e-5, the lr halved after 100 of 200 epochs (19,800 iterations of
# batch 8). No lr multiplier on the fusion ops: Adam's steps do not scale
# with the gradient, the SGD recipe's x100 only made up for small ones.
# The architecture step keeps the search's Adam (lr 1e-3, betas (0.5,
# 0.999), weight decay 1e-3).
_base_ = ['./search_20k.py']
iters_per_epoch = 99
max_iters = 200 * iters_per_epoch
optim_wrapper = dict(
    weight=dict(
        _delete_=True,
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-5)))
param_scheduler = dict(
    weight=[
        dict(
            type='MultiStepLR',
            milestones=[100 * iters_per_epoch],
            gamma=0.5,
            begin=0,
            end=max_iters,
            by_epoch=False)
    ],
    arch=[])
train_cfg = dict(max_iters=max_iters, val_interval=10 * iters_per_epoch)
default_hooks = dict(
    checkpoint=dict(interval=50 * iters_per_epoch, max_keep_ckpts=2))
randomness = dict(seed=0)
