"""The protocol shared by every searchable ("staged") backbone."""
from typing import List, Sequence, Tuple

from torch import Tensor


def block_end_layers(layer_blocks: Sequence[int]) -> List[int]:
    """Indices of the last layer of every block (e.g. VGG-16:
    ``[1, 3, 6, 9, 12]``)."""
    blocks = list(layer_blocks)
    return [
        i for i, b in enumerate(blocks)
        if i == len(blocks) - 1 or blocks[i + 1] != b
    ]


class StagedBackboneMixin:
    """A backbone that can be run one layer at a time.

    A class using this mixin defines ``layer_channels`` (output channels of
    every layer), ``layer_blocks`` (block id of every layer, non-decreasing),
    ``out_indices`` (blocks returned by ``forward``), ``forward_stem(x)`` and
    ``forward_layer(i, x)``.  :class:`FusionEdgeNeck` interleaves the layers
    of several such backbones; ``forward`` (used without a neck) returns the
    outputs of the last layer of the blocks in ``out_indices``, so the
    backbone also works in mmseg's ``EncoderDecoder``.
    """

    layer_channels: List[int]
    layer_blocks: List[int]
    out_indices: Tuple[int, ...]

    @property
    def num_layers(self) -> int:
        return len(self.layer_channels)

    @property
    def block_ends(self) -> List[int]:
        """Last layer of every block."""
        return block_end_layers(self.layer_blocks)

    def forward_stem(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_layer(self, i: int, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Block-end features of the blocks in ``out_indices``."""
        x = self.forward_stem(x)
        ends = set(self.block_ends)
        outs = []
        for i in range(self.num_layers):
            x = self.forward_layer(i, x)
            if i in ends:
                outs.append(x)
        return tuple(outs[b] for b in self.out_indices)
