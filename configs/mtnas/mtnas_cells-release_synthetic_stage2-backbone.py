# ./mtnas_cells-tiny_synthetic_stage2-backbone.py at the release size (14 cells,
# C = 32, reductions at cells 6, 9, 12; ../_base_/models/mtnas-release_cells.py).
_base_ = [
    './mtnas_cells-tiny_synthetic_stage2-backbone.py',
    '../_base_/models/mtnas-release_cells.py'
]
model = dict(
    network=dict(
        backbone={{_base_.release_backbone}}, tasks={{_base_.release_tasks}}))
