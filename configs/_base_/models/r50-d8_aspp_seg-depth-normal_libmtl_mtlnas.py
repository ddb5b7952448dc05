# The network of ./r50-d8_aspp_seg-depth-normal_libmtl.py with the MTL-NAS
# search space between its three columns (36 candidate edges per ordered
# task pair, 6 pairs: 216 edges): the network an MTL-NAS search config
# wraps.
_base_ = [
    './r50-d8_aspp_seg-depth-normal_libmtl.py', '../edges/mtlnas_search.py'
]
model = dict(backbone=dict(edges={{_base_.edges}}))
