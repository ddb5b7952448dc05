# Three tasks from config alone: segmentation + normals + depth. Adds a
# depth head, loads depth maps and evaluates depth; the search space builds the
# candidate edges for every ordered task pair (3 x 2 x 24 = 144 edges).
_base_ = ['./mtlnas_vgg-tiny_synthetic.py']
norm_cfg = dict(type='BN', eps=1e-3, momentum=0.05)
model = dict(
    network=dict(tasks=dict(
        depth=dict(
            head=dict(
                type='DenseRegressionHead',
                task='depth',
                align_corners=True,
                decoder=dict(
                    type='LargeFOVHead',
                    in_channels=64,
                    channels=64,
                    fc6_dilation=4,
                    num_classes=1,
                    norm_cfg=norm_cfg),
                loss=dict(type='MaskedDepthLoss', loss_weight=1.0))))))
# the data with depth maps and the three-task evaluator: the fields of
# ../_base_/datasets/synthetic_seg_normal_depth.py, set here because the base
# config already lists the two-task data set
train_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(with_depth=True, pipeline={{_base_.depth_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = {{_base_.depth_evaluator}}
test_evaluator = val_evaluator
