# Cross-stitch: learnable scalar mixing of the paired layers after each
# block (no BN/ReLU), init (0.9, 0.1).
edges = dict(
    type='FusionEdges',
    connectivity=dict(same_layer_only=True),
    fusion=dict(type='cross_stitch', init=(0.9, 0.1)),
    fusion_layers='block_ends',
    gate_mode='ones')
