# MTL-NAS search on the LibMTL NYUv2 protocol: three dilated ResNet-50 +
# ASPP columns (seg-13, depth, normals), 216 candidate edges (36 per ordered
# task pair), LibMTL's Adam recipe for the weight step; the searched model
# is evaluated without retraining.
_base_ = [
    '../_base_/models/r50-d8_aspp_seg-depth-normal_libmtl_mtlnas.py',
    '../_base_/datasets/nyuv2-13_libmtl.py', '../_base_/default_runtime.py',
    '../_base_/schedules/libmtl_search_200e.py'
]
model = dict(_delete_=True, type='MTLNAS', network={{_base_.model}})
