# The network of ./vgg-tiny_largefov_seg_normal.py with the MTL-NAS search space between its
# columns: the network an MTL-NAS search config wraps.
_base_ = ['./vgg-tiny_largefov_seg_normal.py', '../edges/mtlnas_search.py']
model = dict(backbone=dict(edges={{_base_.edges}}))
