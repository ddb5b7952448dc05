# MTNAS stage 3, retraining
# (../_base_/mtnas/mtnas_stage3-retrain.py) on the generated scenes
# (seg + normals, ../_base_/datasets/synthetic_seg_normal.py).
_base_ = [
    '../_base_/mtnas/mtnas_stage3-retrain.py',
    '../_base_/datasets/synthetic_seg_normal.py'
]
