# Share routing on NYUv2 (seg + normals): ResNet-50 V1c stages as sub-networks
# (K = 2), the MTL-NAS search schedule (20k iterations), route cost weight
# 0.1. Pretrained weights per copy through the backbone's init_cfg (see
# ../_base_/models/r50_seg_normal.py).
_base_ = [
    '../_base_/models/r50_seg_normal_share-routing.py',
    '../_base_/datasets/nyuv2_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/share_routing_20k.py'
]
model = dict(_delete_=True, type='ShareRouting', network={{_base_.model}},
             regularizer_weight=0.1)
