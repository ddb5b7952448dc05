# MTNAS stage 3, without data and at the tiny size (as
# ./mtnas_stage1-branches.py): the derived network (stage-2 export: every
# space's genotype) retrained from scratch with the plain recipe of the
# baselines (same iterations and weight lr as schedule_tiny.py), affine BN,
# and only the chosen ops built. backbone.genotype= is the stage-2 export
# (tools/mtnas_pipeline.py fills it in).
_base_ = [
    '../models/mtnas-tiny_cells_seg_normal.py', '../default_runtime.py',
    '../schedules/schedule_tiny.py'
]
norm_cfg = dict(type='BN', affine=True)
model = dict(
    backbone=dict(
        genotype=None,
        discard_unused=True,
        trunk=dict(norm_cfg=norm_cfg),
        branch=dict(norm_cfg=norm_cfg)))
