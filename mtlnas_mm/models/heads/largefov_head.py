"""DeepLab-LargeFOV classifier head (pool5, fc6, fc7, fc8)."""
import copy
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import initialize
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from ..layers.conv1x1 import Conv1x1


@MODELS.register_module()
class LargeFOVHead(BaseDecodeHead):
    """The task-specific top of DeepLab-LargeFOV (as in MTL-NAS).

    ``maxpool 3/s1 -> avgpool 3/s1 (count_include_pad=False) -> fc6 (3x3,
    dilation 12) + BN + ReLU + Dropout -> fc7 (1x1) + BN + ReLU + Dropout ->
    conv_seg (fc8, 1x1 with bias)``.  Both dropouts are element-wise, as in
    DeepLab (mmseg's default ``Dropout2d`` is replaced).

    Args:
        in_channels: channels of the selected input (512 for VGG-16).
        channels: width of fc6/fc7 (1024 in MTL-NAS).
        fc6_dilation: dilation of fc6.
        dropout_ratio: dropout after fc6 and after fc7.
        norm_cfg: BN of fc6/fc7 (MTL-NAS: eps 1e-3, momentum 0.05).
        with_pool5: run pool5 first (default); ``False`` when the backbone
            ends with it (``VGGLargeFOV(pool_position='block_end')``, the
            official NDDR-CNN placement).
        conv_init_cfg: optional mmengine init config applied to the head
            *after* every other initialisation.  An ``init_cfg`` naming
            ``Conv2d`` does not reach fc6 / fc7: mmcv's ``ConvModule``
            re-initialises its conv (Kaiming, fan_out, ReLU) after its
            parent's ``init_cfg``.  The official head init (every conv
            ``kaiming_normal_(w, a=1)``, biases 0) is
            ``dict(type='Kaiming', a=1, mode='fan_in',
            nonlinearity='leaky_relu', distribution='normal', bias=0,
            layer='Conv2d')``; ``None`` (default) keeps ConvModule's init
            for fc6 / fc7 and mmseg's Normal(0.01) for fc8.
        **kwargs: the other ``BaseDecodeHead`` arguments (``num_classes``,
            ``in_index``, ``loss_decode``, ``align_corners``,
            ``init_cfg``, ...).
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]] = 512,
                 channels: int = 1024,
                 fc6_dilation: int = 12,
                 dropout_ratio: float = 0.5,
                 norm_cfg: dict = dict(type='BN', eps=1e-3, momentum=0.05),
                 with_pool5: bool = True,
                 conv_init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            in_channels,
            channels,
            dropout_ratio=dropout_ratio,
            norm_cfg=norm_cfg,
            **kwargs)
        self.conv_init_cfg = copy.deepcopy(conv_init_cfg)
        self.pool5 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        ) if with_pool5 else nn.Identity()
        self.fc6 = ConvModule(
            self.in_channels,
            channels,
            3,
            padding=fc6_dilation,
            dilation=fc6_dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        # fc7 and fc8 (conv_seg): 1x1 convs through oneDNN on CPU
        # (Conv1x1: same parameters and init, faster kernels)
        self.fc7 = ConvModule(
            channels,
            channels,
            1,
            conv_cfg=self.conv_cfg or dict(type=Conv1x1),
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.conv_seg = Conv1x1.adopt(self.conv_seg)
        if dropout_ratio > 0:
            self.fc6_dropout = nn.Dropout(dropout_ratio)
            self.dropout = nn.Dropout(dropout_ratio)  # applied in cls_seg
        else:
            self.fc6_dropout = nn.Identity()

    def init_weights(self) -> None:
        """mmengine's init (``init_cfg``, then the children's own), then
        ``conv_init_cfg``."""
        super().init_weights()
        if self.conv_init_cfg is not None:
            initialize(self, self.conv_init_cfg)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Logits at the input feature resolution."""
        x = self._transform_inputs(inputs)
        x = self.fc6_dropout(self.fc6(self.pool5(x)))
        x = self.fc7(x)
        return self.cls_seg(x)
