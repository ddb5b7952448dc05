# The MTL-NAS supernet without search: every candidate edge on (gate 1),
# NDDR fusion at every layer, init (0.9, 0.1).
edges = dict(
    type='FusionEdges',
    connectivity=dict(same_block=True, max_gap=3),
    fusion=dict(type='nddr', init=(0.9, 0.1)),
    fusion_layers='all',
    gate_mode='ones')
