# The official MTL-NAS computation (bhpfelix/MTLNAS, VGG-16 / NYUv2), as the
# option values the *_official configs switch on: the one place for them.
# Each name is distinct from the other bases' keys, so a config can list this
# file beside its own base and use the values with {{_base_.<name>}}.

# Inputs: 0..255 RGB minus the mean, std 1, no padding of the 321 crops.
# The official loader reads the mean from datasets/nyu_v2/nyu_v2_mean.npy,
# which the official repository does not ship; these are the values the
# PyTorch NDDR-CNN port (bhpfelix/NDDR-CNN-PyTorch, whose code MTL-NAS
# extends) hard-codes: the DeepLab/Caffe mean in RGB order. Replace them with
# the file's values if you have it.
official_mean = [122.67891434, 116.66876762, 104.00698793]
official_data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=official_mean,
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=None)
# VGGLargeFOV: convs without bias, stride-2 pools after a zero row/column at
# the bottom/right (ConstantPad2d((0, 1, 0, 1))).
official_backbone = dict(conv_bias=False, pool_padding='bottom_right')
# every conv of the heads: kaiming_normal_(w, a=1), biases 0
official_head_init = dict(
    type='Kaiming',
    a=1,
    mode='fan_in',
    nonlinearity='leaky_relu',
    distribution='normal',
    bias=0,
    layer='Conv2d')
# 1 - cos on the raw 0..255 PNG vectors, x20
official_normal_loss = dict(
    type='CosineNormalLoss', loss_weight=20.0, space='raw')
# Training: colour jitter (torchvision, hue 0.05, saturation 0.05) first on
# the full image, random scale 0.5-1.5 (PIL bilinear image, PIL nearest
# labels and normals), flip without negating x, pad to 321, random 321 crop.
official_crop_size = (321, 321)
official_train_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap', renormalize=False),
    dict(type='TorchvisionColorJitter', hue=0.05, saturation=0.05),
    dict(
        type='RandomResize',
        scale=(640, 480),
        ratio_range=(0.5, 1.5),
        resize_type='NormalAwareResize',
        keep_ratio=True,
        normal_interpolation='nearest',
        backend='pillow'),
    dict(type='NormalAwareRandomFlip', prob=0.5, negate_components=False),
    dict(type='MultiTaskPad', size=official_crop_size),
    dict(type='RandomCrop', crop_size=official_crop_size),
    dict(type='PackMultiTaskInputs'),
]
official_test_pipeline = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap', renormalize=False),
    dict(type='PackMultiTaskInputs'),
]
# mIoU_all = the official mean over all 40 classes; normal angles between the
# network's raw-space output and the PNG vectors (the paper's table)
official_evaluator = dict(
    type='MultiTaskEvaluator',
    metrics=[
        dict(type='AllClassIoUMetric', iou_metrics=['mIoU']),
        dict(type='SurfaceNormalMetric', spaces=('raw', ), pred_space='raw'),
    ])
# TRAIN.STEPS = 20001 (t = 0..20000), poly lr (1 - t/20001)^0.9.  mmengine's
# PolyLR(end=E) decays as (1 - t/(E - 1))^0.9 (total_iters = end - begin -
# 1), so the official decay needs end = 20002: the lr at the last iteration
# t = 20000 is then 1e-3 * (1/20001)^0.9 = 1.35e-7, as in the official code.
official_max_iters = 20001
official_weight_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=official_max_iters + 1,
        by_epoch=False)
]
