# All-edges supernet (no search): every candidate edge of the MTL-NAS space
# always on (gate 1), NDDR fusion at every layer, init (0.9, 0.1).
_base_ = './nddr_vgg-tiny_synthetic.py'
model = dict(
    backbone=dict(
        edges=dict(
            connectivity=dict(_delete_=True, same_block=True, max_gap=3),
            fusion_layers='all')))
