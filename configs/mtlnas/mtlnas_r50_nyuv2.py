# MTL-NAS with two ResNet-50 (output stride 8) networks on NYUv2; one
# searchable layer per bottleneck, 72 candidate edges.
_base_ = [
    '../_base_/models/r50_seg_normal.py', '../_base_/necks/mtlnas_search.py',
    '../_base_/datasets/nyuv2_seg_normal.py', '../_base_/default_runtime.py',
    '../_base_/schedules/search_20k.py'
]
model = dict(neck={{_base_.neck}})
optim_wrapper = dict(
    weights=dict(
        paramwise_cfg=dict(custom_keys={
            'neck': dict(lr_mult=100.0),
            'conv_seg.weight': dict(lr_mult=10.0),
            'conv_seg.bias': dict(lr_mult=20.0),
        })))
