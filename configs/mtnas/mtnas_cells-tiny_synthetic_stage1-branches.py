# MTNAS stage 1, branch search
# (../_base_/mtnas/mtnas_stage1-branches.py) on the generated scenes
# (seg + normals, ../_base_/datasets/synthetic_seg_normal.py).
_base_ = [
    '../_base_/mtnas/mtnas_stage1-branches.py',
    '../_base_/datasets/synthetic_seg_normal.py'
]
