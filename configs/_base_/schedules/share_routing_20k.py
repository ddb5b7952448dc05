# The search schedule ./search_20k.py for a share-routing space.
_base_ = ['./search_20k.py']
# Weight lr multipliers: the gate maps start at 0
# (a faster lr, as MTL-NAS's fusion ops), classifiers x10 / x20 as the
# MTL-NAS recipe. Replaces the schedule's fusion-edge keys.
optim_wrapper = dict(
    weight=dict(
        paramwise_cfg=dict(
            custom_keys=dict(
                _delete_=True,
                **{
                    'backbone.gates': dict(lr_mult=10.0),
                    'conv_seg.weight': dict(lr_mult=10.0),
                    'conv_seg.bias': dict(lr_mult=20.0),
                }))))
# no entropy schedule: the route cost weight is the model's
custom_hooks = [dict(type='ArchitectureHook', interval=1000,
                     history_interval=50)]
