"""mmseg's ResNetV1c, split into one searchable layer per residual block."""
from typing import List, Sequence, Tuple

from torch import Tensor

from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS
from .staged import StagedBackboneMixin


@MODELS.register_module()
class StagedResNet(StagedBackboneMixin, ResNetV1c):
    """ResNetV1c (deep stem) whose residual blocks are the searchable layers.

    * stem: the deep stem (or 7x7 conv) followed by the max-pool;
    * layer ``i``: one residual block; its block id (``layer_blocks``) is the
      index of its res stage, so ResNet-50 has 3+4+6+3 = 16 layers in 4
      blocks.

    Every argument of mmseg's ``ResNet`` is accepted; the defaults here give
    the dense-prediction layout with output stride 8 (``strides=(1, 2, 1,
    1)``, ``dilations=(1, 1, 2, 4)``, ``contract_dilation=True``).  Parameter
    names are those of mmseg's ``ResNetV1c``, so its checkpoints load
    unchanged.  For tests: ``depth=18, stem_channels=8, base_channels=4``.
    """

    def __init__(self,
                 depth: int = 50,
                 strides: Sequence[int] = (1, 2, 1, 1),
                 dilations: Sequence[int] = (1, 1, 2, 4),
                 contract_dilation: bool = True,
                 **kwargs) -> None:
        super().__init__(
            depth=depth,
            strides=strides,
            dilations=dilations,
            contract_dilation=contract_dilation,
            **kwargs)
        self.out_indices = tuple(self.out_indices)
        self._layer_index: List[Tuple[str, int]] = []
        self.layer_channels = []
        self.layer_blocks = []
        for stage, name in enumerate(self.res_layers):
            out_channels = (self.block.expansion * self.base_channels *
                            2**stage)
            for b in range(len(getattr(self, name))):
                self._layer_index.append((name, b))
                self.layer_channels.append(out_channels)
                self.layer_blocks.append(stage)

    def forward_stem(self, x: Tensor) -> Tensor:
        """Stem convs and the max-pool (stride 4)."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def forward_layer(self, i: int, x: Tensor) -> Tensor:
        """Run residual block ``i`` (counted over all stages)."""
        name, b = self._layer_index[i]
        return getattr(self, name)[b](x)

    def train(self, mode: bool = True) -> 'StagedResNet':
        super().train(mode)
        return self
