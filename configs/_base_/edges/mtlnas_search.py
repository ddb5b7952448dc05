# The MTL-NAS search space (Gao et al., CVPR 2020, Sec. 3): all candidate
# edges (same block, source <= target, gap < 3), NDDR fusion at every layer
# initialised to (1, 0) (own feature identity, sources 0), sigmoid gates in
# the architecture step, relaxed-Bernoulli samples in the weight step, and
# 1[alpha > 0] (pruned edges not computed) at evaluation.
edges = dict(
    type='FusionEdges',
    connectivity=dict(same_block=True, max_gap=3),
    fusion=dict(type='nddr', init=(1.0, 0.0)),
    fusion_layers='all',
    gate_mode='sigmoid',
    step_gate_modes=dict(arch='sigmoid', weight='relaxed'),
    eval_gate_mode='hard')
