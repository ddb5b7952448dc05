"""A multi-layer perceptron for tabular inputs, as a staged backbone."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from mmseg.registry import MODELS
from .staged import StagedBackboneMixin


@MODELS.register_module()
class StagedMLP(StagedBackboneMixin, BaseModule):
    """Linear + ReLU layers on ``(N, in_channels)`` inputs.

    The tabular counterpart of the staged image backbones, so tabular data
    (e.g. the MMoE synthetic tasks) runs through the same layer loop and
    the same search spaces.  Layer ``i`` is ``Linear(channels[i-1],
    channels[i])`` + ReLU; its block is ``layer_blocks[i]`` (default: every
    layer its own block, i.e. one share-routing layer per linear layer).

    Args:
        in_channels: input features.
        channels: output width of every layer.
        layer_blocks: block id of every layer (non-decreasing).
        out_indices: blocks ``forward`` returns (default: the last).
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int] = (16, 16),
                 layer_blocks: Optional[Sequence[int]] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not channels:
            raise ValueError('StagedMLP.channels must not be empty')
        self.layer_channels = [int(c) for c in channels]
        blocks = (list(range(len(channels)))
                  if layer_blocks is None else [int(b) for b in layer_blocks])
        if len(blocks) != len(channels) or any(
                b1 > b2 for b1, b2 in zip(blocks, blocks[1:])):
            raise ValueError('StagedMLP.layer_blocks: need one '
                             'non-decreasing block id per layer, got '
                             f'{layer_blocks}')
        self.layer_blocks = blocks
        num_blocks = len(set(blocks))
        self.out_indices = ((num_blocks - 1, ) if out_indices is None else
                            tuple(out_indices))
        widths = [int(in_channels)] + self.layer_channels
        self.layers = ModuleList(
            nn.Sequential(nn.Linear(c_in, c_out), nn.ReLU(inplace=True))
            for c_in, c_out in zip(widths, widths[1:]))

    def forward_stem(self, x: Tensor) -> Tensor:
        return x

    def forward_layer(self, i: int, x: Tensor) -> Tensor:
        return self.layers[i](x)
