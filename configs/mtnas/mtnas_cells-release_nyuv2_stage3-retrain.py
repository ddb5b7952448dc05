# MTNAS stage 3, retraining (../_base_/mtnas/mtnas_stage3-retrain.py), at
# the release size (14 cells, C = 32, reductions at cells 6, 9, 12;
# ../_base_/models/mtnas-release_cells.py) on NYUv2 (40-class segmentation +
# normals, ../_base_/datasets/nyuv2_seg_normal.py: 321x321 crops, batch 10).
# The schedule is the tiny one
# (../_base_/schedules/schedule_tiny.py), as in the synthetic release
# configs: lengthen it with tools/mtnas_pipeline.py --iters N (every
# scheduler follows).
_base_ = [
    '../_base_/mtnas/mtnas_stage3-retrain.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/models/mtnas-release_cells.py'
]
model = dict(
    backbone={{_base_.release_backbone}}, tasks={{_base_.release_tasks}})
