# MTL-NAS with two ResNet-50 (output stride 8) networks on NYUv2; one
# searchable layer per bottleneck, 72 candidate edges.
_base_ = [
    '../_base_/models/r50_seg_normal_mtlnas.py',
    '../_base_/datasets/nyuv2_seg_normal.py', '../_base_/default_runtime.py',
    '../_base_/schedules/search_20k.py'
]
model = dict(_delete_=True, type='MTLNAS', network={{_base_.model}})
