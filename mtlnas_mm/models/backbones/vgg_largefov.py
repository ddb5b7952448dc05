"""DeepLab-LargeFOV VGG, split into one searchable layer per 3x3 conv."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg.registry import MODELS
from mtlnas_mm.structures.choices import check_choice
from .staged import StagedBackboneMixin


@MODELS.register_module()
class VGGLargeFOV(StagedBackboneMixin, BaseModule):
    """VGG with BatchNorm, output stride 8, as the MTL-NAS / NDDR-CNN trunk.

    DeepLab-LargeFOV layout (Chen et al., DeepLab, TPAMI 2018; as in
    MTL-NAS): five blocks of 3x3 conv + BN + ReLU; the pools before blocks
    2-4 are 3x3 / stride 2, the pool before block 5 is 3x3 / stride 1
    (padding 1) and block 5 convs use dilation 2.  The pool after block 5
    and fc6-fc8 belong to :class:`~mtlnas_mm.models.heads.LargeFOVHead`
    (unless ``pool_position='block_end'``).

    Options that reproduce the official MTL-NAS / NDDR-CNN PyTorch network
    (defaults: the project's):

    * ``conv_bias``: the official convs have no bias (BN follows); the
      project keeps mmpretrain's VGG biases (default True) so its
      ``vgg*_bn`` checkpoints load.
    * ``pool_padding``: ``'symmetric'`` (default) pads the stride-2 pools
      by 1 on every side (an odd size n gives ``(n + 1) / 2``);
      ``'bottom_right'`` zero-pads one row and column at the bottom/right
      and pools without padding (the official
      ``ConstantPad2d((0, 1, 0, 1), 0)``, commented "TensorFlow 'SAME'
      behavior"): n gives ``(n - 1) // 2 + 1`` only for even n, so a 321
      crop gives 160 / 80 / 40 instead of 161 / 81 / 41, and the pooling
      windows sit one pixel apart.  Zero padding equals the max-pool's
      -inf padding because the inputs are ReLU outputs.
    * ``pool_position``: where a layer sequence puts the pool that follows
      a block, which decides which tensor cross-task fusion after a block
      end sees.  ``'block_start'`` (default) runs it at the start of the
      next block's first layer, so fusion after a block end sees the
      pre-pool features: the official 13-stage MTL-NAS network (its search
      space needs it: all layers of a block share one size).
      ``'block_end'`` runs it at the end of the block's last layer, and
      block 5 also ends with pool5 (max 3/s1 + avg 3/s1,
      ``count_include_pad=False``), so fusion after a block end sees the
      post-pool features: the official 5-stage network of NDDR-CNN and
      cross-stitch (fusion after pool1..pool5).  Build the head with
      ``LargeFOVHead(with_pool5=False)`` then.  Use it with same-layer
      edges only: in a block the last layer's output is then smaller than
      the others.  Pools have no parameters, so checkpoints load into
      either placement.

    The network is split into one *layer* per 3x3 conv (13 for VGG-16); a
    layer that opens a block also runs the pool in front of it.  Modules are
    stored flat in ``features`` with the indices of mmpretrain's ``VGG``
    (``features.<k>.conv`` / ``features.<k>.bn``; pools take the indices of
    mmpretrain's pools), so an mmpretrain ``vgg*_bn`` checkpoint loads with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.

    Args:
        depth: 11, 13, 16 or 19.
        in_channels: input channels.
        base_channels: width of block 1; blocks have
            ``base * (1, 2, 4, 8, 8)`` channels (64 = standard VGG).
        dilations: conv dilation of every block.
        pool_strides: stride of the 3x3 max-pool in front of blocks 2-5.
        out_indices: blocks whose last-layer output ``forward`` returns.
        norm_cfg: BN config; MTL-NAS uses eps 1e-3, momentum 0.05.
        act_cfg: activation after each BN.
        norm_eval: keep BN layers in eval mode during training.
        conv_bias: give the 3x3 convs a bias (official: False).
        pool_padding: ``'symmetric'`` or ``'bottom_right'`` (official),
            for the stride-2 pools.
        pool_position: ``'block_start'`` (MTL-NAS) or ``'block_end'``
            (official NDDR-CNN / cross-stitch placement).
        init_cfg: mmengine init config.
    """

    arch_settings: Dict[int, Tuple[int, ...]] = {
        11: (1, 1, 2, 2, 2),
        13: (2, 2, 2, 2, 2),
        16: (2, 2, 3, 3, 3),
        19: (2, 2, 4, 4, 4),
    }
    width_mults = (1, 2, 4, 8, 8)
    pool_paddings = ('symmetric', 'bottom_right')
    pool_positions = ('block_start', 'block_end')

    def __init__(self,
                 depth: int = 16,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 dilations: Sequence[int] = (1, 1, 1, 1, 2),
                 pool_strides: Sequence[int] = (2, 2, 2, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3, 4),
                 norm_cfg: Optional[dict] = dict(
                     type='BN', eps=1e-3, momentum=0.05),
                 act_cfg: dict = dict(type='ReLU'),
                 norm_eval: bool = False,
                 conv_bias: bool = True,
                 pool_padding: str = 'symmetric',
                 pool_position: str = 'block_start',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_choice(pool_padding, self.pool_paddings,
                     'VGGLargeFOV: pool_padding')
        check_choice(pool_position, self.pool_positions,
                     'VGGLargeFOV: pool_position')
        self.pool_padding = pool_padding
        self.pool_position = pool_position
        check_choice(depth, self.arch_settings, 'VGGLargeFOV: depth',
                     KeyError)
        stage_blocks = self.arch_settings[depth]
        num_blocks = len(stage_blocks)
        if len(dilations) != num_blocks:
            raise ValueError(f'VGGLargeFOV: dilations needs {num_blocks} '
                             f'values, got {tuple(dilations)}')
        if len(pool_strides) != num_blocks - 1:
            raise ValueError(f'VGGLargeFOV: pool_strides needs '
                             f'{num_blocks - 1} values, got '
                             f'{tuple(pool_strides)}')
        if not out_indices or any(not 0 <= i < num_blocks
                                  for i in out_indices):
            raise ValueError(f'VGGLargeFOV: out_indices must be in '
                             f'[0, {num_blocks}), got {tuple(out_indices)}')
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.norm_eval = norm_eval

        features: List[nn.Module] = []
        layer_modules: List[Tuple[int, ...]] = []
        layer_channels: List[int] = []
        layer_blocks: List[int] = []
        channels = in_channels
        for b, num_convs in enumerate(stage_blocks):
            out_channels = base_channels * self.width_mults[b]
            pool_idx = None
            if b > 0:
                pool_idx = len(features)
                features.append(self._make_pool(pool_strides[b - 1]))
            for c in range(num_convs):
                conv_idx = len(features)
                features.append(
                    ConvModule(
                        channels,
                        out_channels,
                        3,
                        padding=dilations[b],
                        dilation=dilations[b],
                        bias=bool(conv_bias),
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
                channels = out_channels
                opens_block = c == 0 and pool_idx is not None
                layer_modules.append((pool_idx, conv_idx) if opens_block else
                                     (conv_idx, ))
                layer_channels.append(out_channels)
                layer_blocks.append(b)
        if pool_position == 'block_end':
            layer_modules = self._pools_at_block_ends(layer_modules,
                                                      layer_blocks, features)
        self.features = nn.Sequential(*features)
        self._layer_modules = layer_modules
        self.layer_channels = layer_channels
        self.layer_blocks = layer_blocks

    def layer_modules(self, i: int) -> List[nn.Module]:
        """The modules layer ``i`` runs, in order (its opening pool, if
        any, then its conv; pools moved to block ends follow the conv)."""
        return [self.features[j] for j in self._layer_modules[i]]

    def _make_pool(self, stride: int) -> nn.Module:
        """The 3x3 max-pool in front of a block."""
        if stride == 2 and self.pool_padding == 'bottom_right':
            return nn.Sequential(
                nn.ConstantPad2d((0, 1, 0, 1), 0.0), nn.MaxPool2d(3, 2))
        return nn.MaxPool2d(3, stride=stride, padding=1)

    @staticmethod
    def _pools_at_block_ends(layer_modules: List[Tuple[int, ...]],
                             layer_blocks: List[int],
                             features: List[nn.Module]
                             ) -> List[Tuple[int, ...]]:
        """Move each block-opening pool to the end of the previous block's
        last layer and end the last block with pool5 (appended to
        ``features``; no parameters, so state-dict keys do not move)."""
        out = [list(m) for m in layer_modules]
        for i in range(1, len(out)):
            if layer_blocks[i] != layer_blocks[i - 1]:  # i opens a block
                pool = out[i].pop(0)
                out[i - 1].append(pool)
        features.append(
            nn.Sequential(
                nn.MaxPool2d(3, stride=1, padding=1),
                nn.AvgPool2d(3, stride=1, padding=1,
                             count_include_pad=False)))
        out[-1].append(len(features) - 1)
        return [tuple(m) for m in out]

    def forward_stem(self, x: Tensor) -> Tensor:
        """VGG has no stem: layer 0 takes the image."""
        return x

    def forward_layer(self, i: int, x: Tensor) -> Tensor:
        """Run layer ``i``: one conv and the pool it carries, if any
        (before the conv, or after it with ``pool_position='block_end'``)."""
        for k in self._layer_modules[i]:
            x = self.features[k](x)
        return x

    def train(self, mode: bool = True) -> 'VGGLargeFOV':
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
