# NDDR-CNN on the LibMTL NYUv2 protocol: an NDDR layer fusing the three
# columns after each ResNet stage, init (0.9, 0.1).
_base_ = [
    './single-task_r50-d8_1xb8-200e_nyuv2-13_3task.py',
    '../_base_/edges/nddr.py'
]
model = dict(backbone=dict(edges={{_base_.edges}}))
