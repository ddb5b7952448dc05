# Option measurement: NDDR-CNN fused after the pools (official placement),
# at the demo's stage-2 lr 1e-3; start it from single-task networks with
# model.init_from (README).
_base_ = ['../baselines/nddr_vgg-tiny_synthetic.py']
model = dict(
    backbone=dict(backbone=dict(pool_position='block_end')),
    tasks=dict(
        seg=dict(head=dict(with_pool5=False)),
        normal=dict(head=dict(decoder=dict(with_pool5=False)))))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
