# MTNAS stage 2, backbone search
# (../_base_/mtnas/mtnas_stage2-backbone.py) on the generated scenes
# (seg + normals, ../_base_/datasets/synthetic_seg_normal.py).
_base_ = [
    '../_base_/mtnas/mtnas_stage2-backbone.py',
    '../_base_/datasets/synthetic_seg_normal.py'
]
