# Cross-stitch starting exactly at the single-task pair of init_from: unit
# init (1, 0) instead of (0.9, 0.1). The units are linear (no BN), so no
# data-dependent init is needed (a project option).
_base_ = ['./cross-stitch_vgg-tiny_synthetic.py']
model = dict(backbone=dict(edges=dict(fusion=dict(init=(1.0, 0.0)))))
