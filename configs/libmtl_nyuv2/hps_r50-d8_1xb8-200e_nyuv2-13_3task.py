# Hard parameter sharing (LibMTL's HPS, the project's "multiple"): one
# dilated ResNet-50 shared by the three tasks, one ASPP head each.
_base_ = ['./single-task_r50-d8_1xb8-200e_nyuv2-13_3task.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='StagedResNet',
        depth=50,
        norm_cfg={{_base_.norm_cfg}},
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')))
