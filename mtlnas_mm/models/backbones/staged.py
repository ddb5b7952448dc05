"""The protocol shared by every backbone that runs one layer at a time, and
THE layer loop over such backbones."""
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from torch import Tensor

#: ``fuse(i, outputs) -> inputs of layer i + 1``: called after layer ``i`` of
#: every column with the columns' layer-``i`` outputs (cross-task fusion)
LayerFuser = Callable[[int, Dict[str, Tensor]], Dict[str, Tensor]]


def block_end_layers(layer_blocks: Sequence[int]) -> List[int]:
    """Indices of the last layer of every block (e.g. VGG-16:
    ``[1, 3, 6, 9, 12]``)."""
    blocks = list(layer_blocks)
    return [
        i for i, b in enumerate(blocks)
        if i == len(blocks) - 1 or blocks[i + 1] != b
    ]


def run_staged(inputs: Tensor,
               columns: Mapping[str, 'StagedBackboneMixin'],
               fuse: Optional[LayerFuser] = None) -> Dict[str, List[Tensor]]:
    """Run staged backbones side by side, layer by layer.

    This is the only layer loop of the project: a single backbone's
    ``forward`` runs it with one column, :class:`TaskColumns` with one
    column per task and the cross-task fusion as ``fuse``.

    Args:
        inputs: the image batch every column starts from.
        columns: per task, a staged backbone; all have the same layers.
        fuse: optional; maps the layer-``i`` outputs of all columns to the
            inputs of layer ``i + 1`` (default: identity).

    Returns:
        dict: per column, the (fused) output of the last layer of every
        block, in block order.
    """
    first = next(iter(columns.values()))
    block_ends = set(first.block_ends)
    x = {t: col.forward_stem(inputs) for t, col in columns.items()}
    outs: Dict[str, List[Tensor]] = {t: [] for t in columns}
    for i in range(first.num_layers):
        x = {t: col.forward_layer(i, x[t]) for t, col in columns.items()}
        if fuse is not None:
            x = fuse(i, x)
        if i in block_ends:
            for t in columns:
                outs[t].append(x[t])
    return outs


class StagedBackboneMixin:
    """A backbone that can be run one layer at a time.

    A class using this mixin defines ``layer_channels`` (output channels of
    every layer), ``layer_blocks`` (block id of every layer, non-decreasing),
    ``out_indices`` (blocks returned by ``forward``), ``forward_stem(x)`` and
    ``forward_layer(i, x)``.  :class:`TaskColumns` interleaves the layers of
    one such backbone per task with cross-task fusion; ``forward`` returns
    the outputs of the last layer of the blocks in ``out_indices``, so the
    backbone also works alone, e.g. in mmseg's ``EncoderDecoder``.
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

    def select_outputs(self, block_outputs: Sequence[Tensor]
                       ) -> Tuple[Tensor, ...]:
        """The block outputs named by ``out_indices``."""
        return tuple(block_outputs[b] for b in self.out_indices)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Block-end features of the blocks in ``out_indices``."""
        return self.select_outputs(run_staged(x, {'': self})[''])
