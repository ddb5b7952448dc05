# The VGG-16 LargeFOV pair at 1/8 width (8..64 channels, 64-wide fc6/fc7):
# the same topology and search space (13 layers, 48 candidate edges), small
# enough to search on a CPU in minutes. Used by the demo and the tests.
_base_ = ['./vgg16_largefov_seg_normal.py']
model = dict(
    backbone=dict(backbone=dict(base_channels=8)),
    tasks=dict(
        seg=dict(
            head=dict(
                in_channels=64, channels=64, fc6_dilation=4,
                dropout_ratio=0.0)),
        normal=dict(
            head=dict(
                decoder=dict(
                    in_channels=64, channels=64, fc6_dilation=4,
                    dropout_ratio=0.0)))))
