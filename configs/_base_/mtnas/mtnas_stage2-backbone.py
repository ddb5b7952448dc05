# MTNAS stage 2, backbone search under multi-task guidance, without data
# and at the tiny size (as ./mtnas_stage1-branches.py): the shared trunk's
# cells are searched with the sum of the task losses, the branches fixed to
# their stage-1 genotypes (trained, not frozen). genotype= is the stage-1
# export (tools/mtnas_pipeline.py fills it in).
_base_ = ['./mtnas_stage1-branches.py']
model = dict(
    search='backbone',
    genotype=None,
    network=dict(backbone=dict(trunk=dict(frozen=False))))
