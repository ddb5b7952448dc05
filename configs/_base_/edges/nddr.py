# NDDR-CNN: an NDDR layer after each backbone block, pairing the same layer
# of the two tasks, always on; init (0.9, 0.1).
edges = dict(
    type='FusionEdges',
    connectivity=dict(same_layer_only=True),
    fusion=dict(type='nddr', init=(0.9, 0.1)),
    fusion_layers='block_ends',
    gate_mode='ones')
