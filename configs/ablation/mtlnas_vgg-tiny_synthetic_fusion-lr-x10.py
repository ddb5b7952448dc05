# Option measurement: the fusion ops at lr x10 instead of the official x100
# (configs/_base_/schedules/search_20k.py), otherwise the demo's search.
# From a trained single-task pair the fresh fusion nodes move fast at x100
# (0.1 at the fine-tuning lr 1e-3); effect over seeds in the README.
_base_ = ['../mtlnas/mtlnas_vgg-tiny_synthetic.py']
optim_wrapper = dict(
    weight=dict(
        paramwise_cfg=dict(
            custom_keys={'backbone.edges': dict(lr_mult=10.0)})))
