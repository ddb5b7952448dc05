# The embedded default (make demo): MTL-NAS search on generated NYUv2-like
# scenes with the 1/8-width VGG-16 LargeFOV pair. Same search space (48
# edges), fusion init (1, 0), entropy weight 10, relaxed-Bernoulli weight
# step, 600 iterations from scratch.
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal_mtlnas.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py', '../_base_/schedules/search_tiny.py'
]
model = dict(_delete_=True, type='MTLNAS', network={{_base_.model}})
