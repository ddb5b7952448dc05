# Stage 2 (backbone search, branches fixed) with three tasks.
_base_ = ['./mtnas_cells-tiny_synthetic_seg-normal-depth_stage1-branches.py']
model = dict(
    search='backbone',
    genotype=None,
    network=dict(backbone=dict(trunk=dict(frozen=False))))
