# NDDR-CNN baseline: NDDR layers after each block, init (0.9, 0.1); the
# reference of the cross-stitch and all-edges supernet configs beside it.
_base_ = [
    '../_base_/models/vgg16_largefov_seg_normal.py',
    '../_base_/edges/nddr.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py',
]
model = dict(backbone=dict(edges={{_base_.edges}}))
# the fusion ops learn 100x faster, as in the search
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone.edges': dict(lr_mult=100.0)}))
