# NDDR-CNN starting exactly at the single-task pair of init_from: fusion
# conv init (1, 0) instead of (0.9, 0.1) and the data-dependent BN init of
# FusionIdentityStartHook (a project option).
_base_ = ['./nddr_vgg-tiny_synthetic.py']
model = dict(backbone=dict(edges=dict(fusion=dict(init=(1.0, 0.0)))))
default_hooks = dict(
    identity_start=dict(type='FusionIdentityStartHook'))
