# Option measurement: the official network details (no conv bias, pools
# padded (0, 1), Kaiming(a=1) heads, inputs minus the mean with std 1, no
# size_divisor), otherwise the reference.
_base_ = ['./single-task_vgg-tiny_synthetic_both-normal-spaces.py',
          '../_base_/official/mtlnas_official.py']
_init = {{_base_.official_head_init}}
model = dict(
    data_preprocessor={{_base_.official_data_preprocessor}},
    backbone=dict(backbone={{_base_.official_backbone}}),
    tasks=dict(
        seg=dict(head=dict(conv_init_cfg=_init)),
        normal=dict(head=dict(decoder=dict(conv_init_cfg=_init)))))
