# Retraining derived share routes: the network of
# ./share-routing_vgg-tiny_synthetic.py with its routes and queries fixed by
# an exported architecture (the search's arch/arch_final.json), trained as
# a plain network with the baselines' tiny schedule (same iterations and lr
# as the search's weight step; gate maps x10 as in the search):
#   --cfg-options model.backbone.architecture=ARCH_FILE
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal_share-routing.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tiny.py'
]
model = dict(backbone=dict(architecture='ARCH_FILE'))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone.gates': dict(lr_mult=10.0)}))
