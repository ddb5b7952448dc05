# MTNAS stage 1, branch search (Liu et al., ACCV 2020), without data (the
# stage configs in configs/mtnas/ add a dataset) and at the tiny network
# size (the release configs merge ../models/mtnas-release_cells.py): every
# task's decoder branch of cells is searched, each by its own task loss
# (the branches are independent given the backbone); the backbone is fixed
# to a starting genotype (its cells compute only that genotype's ops). The
# seed pre-searches and pretrains that backbone on ImageNet; here it is a
# given genotype without weights, so the trunk's weights are trained with
# the branches (frozen=False): a frozen random trunk would give the
# branches random features. With pretrained weights, freeze the trunk
# (weights and BN statistics untouched) as in the paper:
# network.backbone.trunk=dict(frozen=True, init_cfg=dict(type='Pretrained',
# checkpoint=..., prefix=...)) (frozen=True without them is refused).
# Exports arch/arch_final.json (every space).
_base_ = [
    '../models/mtnas-tiny_cells_seg_normal_search.py',
    '../default_runtime.py', '../schedules/mtnas_search_tiny.py'
]
model = dict(
    search='branches',
    genotype='configs/mtnas/genotypes/start_backbone.json',
    network=dict(backbone=dict(trunk=dict(frozen=False))))
