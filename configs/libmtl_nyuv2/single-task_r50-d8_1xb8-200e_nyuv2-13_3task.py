# Single-task reference of the LibMTL NYUv2 protocol: three dilated
# ResNet-50 + ASPP networks (seg-13, depth, normals) trained side by side on
# the summed loss. They share nothing and Adam updates every parameter on
# its own, so this is three single-task runs in one; its metrics are the
# baseline of delta_m / delta_p.
_base_ = [
    '../_base_/models/r50-d8_aspp_seg-depth-normal_libmtl.py',
    '../_base_/datasets/nyuv2-13_libmtl.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/libmtl_adam_200e.py',
]
