# Cross-stitch baseline: NDDR-CNN's layers and init (0.9, 0.1) with learnable
# scalar mixing of the paired layers instead of the NDDR op (no BN/ReLU).
_base_ = './nddr_vgg-tiny_synthetic.py'
model = dict(backbone=dict(edges=dict(fusion=dict(type='cross_stitch'))))
