"""The MTNAS multi-task network shape (Liu et al., ACCV 2020): a shared
backbone of DARTS cells and one FPN-like decoder branch of cells per task.

* :class:`CellTrunk`: a stem to stride 4, then a stack of cells; the cells
  listed in ``reductions`` halve the resolution and double the width;
  the last cell of every resolution is a tap (strides 4, 8, 16, 32 with
  three reductions).  Its cells are the search space ``'backbone'``.
* :class:`CellDecoderBranch`: top-down over the taps: at the coarsest tap
  a 1x1 lateral, then at every finer tap ``x2 upsample (bilinear to the
  tap's size) + lateral`` followed by ``cells_per_level`` normal cells
  whose first input is the previous, coarser cell output.  Its cells are
  the search space ``'branches.<task>'``.
* :class:`CellMultiTaskBackbone`: the trunk plus one branch per task,
  returning ``{task: features}`` to :class:`MultiTaskNetwork`'s heads.

Each part's cells are a :class:`DartsCellSpace` (its own alphas or
genotype), so the algorithm (:class:`MTNAS`) can search the branches, the
backbone, or neither.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleDict, ModuleList
from torch import Tensor

from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mtlnas_mm.structures import CellArchitecture, check_task_name
from .darts_cells import DartsCellSpace

_DEFAULT_NORM = dict(type='BN')


def _conv_norm(c_in: int, c_out: int, kernel: int, stride: int,
               norm_cfg: Optional[dict]) -> List[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        build_norm_layer(dict(norm_cfg or _DEFAULT_NORM), c_out)[1]
    ]


def _is_pretrained(init_cfg: Union[None, dict, List[dict]]) -> bool:
    """Whether an mmengine ``init_cfg`` loads given weights."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, dict) and c.get('type') == 'Pretrained'
               for c in cfgs)


@MODELS.register_module()
class CellTrunk(BaseModule):
    """Stem (two 3x3 stride-2 convs) + a stack of DARTS cells.

    Args:
        channels: ``C`` of the first cells (doubled at every reduction).
        num_cells: cells in the stack.
        reductions: indices (0-based) of the reduction cells, each in
            ``[1, num_cells)``; ``n`` reductions give ``n + 1`` taps.
        stem_multiplier: stem width = ``stem_multiplier * C`` (DARTS: 3).
        steps: intermediate nodes per cell.
        in_channels: image channels.
        norm_cfg: mmcv norm config of the stem and of every cell op.
        space_name: the search space's name in genotype files.
        frozen: keep every weight (not the alphas) fixed and the norm
            layers in eval mode: a pretrained backbone of a branch search.
            Needs a ``Pretrained`` ``init_cfg`` (a frozen random trunk
            would give the branches random features).
        init_cfg: mmengine init config (e.g. ``Pretrained``: start from
            given weights).
    """

    def __init__(self,
                 channels: int = 32,
                 num_cells: int = 14,
                 reductions: Sequence[int] = (6, 9, 12),
                 stem_multiplier: int = 3,
                 steps: int = 4,
                 in_channels: int = 3,
                 norm_cfg: Optional[dict] = None,
                 space_name: str = 'backbone',
                 frozen: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        if frozen and not _is_pretrained(init_cfg):
            raise ValueError(
                'CellTrunk(frozen=True) keeps the trunk\'s weights and norm '
                'statistics as they are, so it needs given weights: set '
                'init_cfg=dict(type=\'Pretrained\', checkpoint=..., '
                'prefix=...) (in a config: model.network.backbone.trunk.'
                f'init_cfg), or train the trunk (frozen=False); got '
                f'init_cfg={init_cfg!r}')
        super().__init__(init_cfg=init_cfg)
        reductions = [int(r) for r in reductions]
        if reductions != sorted(set(reductions)) or any(
                not 0 < r < num_cells for r in reductions):
            raise ValueError('CellTrunk.reductions must be increasing '
                             f'indices in [1, {num_cells}), got '
                             f'{reductions}')
        self.reductions = reductions
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(
            *_conv_norm(in_channels, c_stem, 3, 2, norm_cfg),
            nn.ReLU(inplace=True),
            *_conv_norm(c_stem, c_stem, 3, 2, norm_cfg))
        cells, c_pp, c_p, c = [], c_stem, c_stem, channels
        for i in range(num_cells):
            reduction = i in reductions
            if reduction:
                c *= 2
            align = 'reduce' if (i - 1) in reductions else 'same'
            cells.append(dict(c_prev_prev=c_pp, c_prev=c_p, channels=c,
                              reduction=reduction, align=align))
            c_pp, c_p = c_p, steps * c
        self.space = DartsCellSpace(space_name, cells, steps=steps,
                                    norm_cfg=norm_cfg)
        #: indices of the cells whose outputs are the taps
        self.tap_cells: List[int] = [r - 1 for r in reductions] + \
            [num_cells - 1]
        self.out_channels: List[int] = [
            self.space.cells[i].out_channels for i in self.tap_cells
        ]
        self.frozen = frozen
        if frozen:
            for name, p in self.named_parameters():
                if not name.startswith('space.alphas.'):
                    p.requires_grad_(False)
            self.train()  # modules start in training mode: switch now

    def train(self, mode: bool = True) -> 'CellTrunk':
        super().train(mode)
        if self.frozen:  # a frozen trunk keeps its norm statistics too
            super().train(False)
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        weights = self.space.cell_weights()
        s0 = s1 = self.stem(x)
        taps = []
        for i in range(len(self.space.cells)):
            s0, s1 = s1, self.space.forward_cell(i, s0, s1, weights)
            if i in self.tap_cells:
                taps.append(s1)
        return tuple(taps)


@MODELS.register_module()
class CellDecoderBranch(BaseModule):
    """One task's FPN-like top-down decoder of DARTS normal cells.

    Returns one feature per tap, finest first (so index 0 is stride 4,
    the one the task head reads).

    Args:
        in_channels: channels of the trunk's taps, finest first.
        channels: ``C`` of the branch cells (output ``steps * C``).
        cells_per_level: cells after every lateral add.
        steps: intermediate nodes per cell.
        norm_cfg: mmcv norm config of the laterals and cell ops.
        space_name: the search space's name in genotype files.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int = 16,
                 cells_per_level: int = 1,
                 steps: int = 4,
                 norm_cfg: Optional[dict] = None,
                 space_name: str = 'branch',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if cells_per_level < 1:
            raise ValueError('CellDecoderBranch.cells_per_level must be >= '
                             f'1, got {cells_per_level}')
        self.in_channels = [int(c) for c in in_channels]
        width = steps * channels
        self.out_channels = width
        self.cells_per_level = cells_per_level
        self.laterals = ModuleList([
            nn.Sequential(*_conv_norm(c, width, 1, 1, norm_cfg))
            for c in self.in_channels
        ])
        deepest = len(self.in_channels) - 1
        cells = []
        for level in range(deepest, -1, -1):
            for k in range(cells_per_level):
                align = 'resize' if k == 0 and level != deepest else 'same'
                cells.append(dict(c_prev_prev=width, c_prev=width,
                                  channels=channels, reduction=False,
                                  align=align))
        self.space = DartsCellSpace(space_name, cells, steps=steps,
                                    norm_cfg=norm_cfg)

    def forward(self, taps: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if len(taps) != len(self.laterals):
            raise ValueError(f'CellDecoderBranch: {len(taps)} taps for '
                             f'{len(self.laterals)} laterals')
        weights = self.space.cell_weights()
        deepest = len(taps) - 1
        s0 = s1 = self.laterals[deepest](taps[deepest])
        outs, index = [], 0
        for level in range(deepest, -1, -1):
            if level != deepest:
                up = resize(s1, size=taps[level].shape[2:], mode='bilinear',
                            align_corners=False)
                s0, s1 = s1, up + self.laterals[level](taps[level])
            for _ in range(self.cells_per_level):
                s0, s1 = s1, self.space.forward_cell(index, s0, s1, weights)
                index += 1
            outs.append(s1)
        return tuple(reversed(outs))


@MODELS.register_module()
class CellMultiTaskBackbone(BaseModule):
    """Shared :class:`CellTrunk` + one :class:`CellDecoderBranch` per task
    (the MTNAS network); ``{task: features}`` for the heads.

    ``tasks`` is filled in by :class:`MultiTaskNetwork`.  Search spaces:
    ``'backbone'`` (the trunk) and ``'branches.<task>'``.

    Args:
        tasks: task names, in order.
        trunk: :class:`CellTrunk` arguments.
        branch: :class:`CellDecoderBranch` arguments (``in_channels`` and
            ``space_name`` are filled in).
        overrides: ``{task: dict}`` updating one task's branch arguments.
        genotype: a ``'cell_genotype'`` architecture (file, dict, object)
            with the genotype of every space: the derived network.
        discard_unused: with ``genotype``, drop the ops the genotype does
            not use (a network retrained from scratch; a search
            checkpoint then no longer loads strictly).
        init_cfg: mmengine init config.
    """

    #: :class:`MultiTaskNetwork` fills in ``tasks``
    takes_tasks = True

    def __init__(self,
                 tasks: Sequence[str],
                 trunk: Optional[dict] = None,
                 branch: Optional[dict] = None,
                 overrides: Optional[Dict[str, dict]] = None,
                 genotype: Union[None, str, dict, CellArchitecture] = None,
                 discard_unused: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks = [check_task_name(t, 'CellMultiTaskBackbone.tasks')
                      for t in tasks]
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.tasks))
        if unknown:
            raise KeyError(f'CellMultiTaskBackbone.overrides: unknown '
                           f'task(s) {unknown}; tasks: {self.tasks}')
        self.trunk = CellTrunk(**dict(trunk or {}))
        self.branches = ModuleDict()
        for t in self.tasks:
            cfg = copy.deepcopy(dict(branch or {}))
            cfg.update(copy.deepcopy(dict(overrides.get(t) or {})))
            for key in ('in_channels', 'space_name'):
                if key in cfg:
                    raise KeyError(f'CellMultiTaskBackbone.branch.{key} is '
                                   'filled in; leave it out')
            self.branches[t] = CellDecoderBranch(
                in_channels=self.trunk.out_channels,
                space_name=f'branches.{t}', **cfg)
        if discard_unused and genotype is None:
            raise ValueError('CellMultiTaskBackbone: discard_unused needs '
                             'a genotype')
        if genotype is not None:
            source = genotype if isinstance(genotype, str) else 'genotype'
            arch = CellArchitecture.build(genotype)
            for space in self.spaces():
                space.fix(arch, source)
                if discard_unused:
                    space.discard_unused()

    def spaces(self) -> List[DartsCellSpace]:
        """The search spaces: the trunk's, then the branches' in task
        order."""
        return [self.trunk.space] + [self.branches[t].space
                                     for t in self.tasks]

    def forward(self, x: Tensor) -> Dict[str, Tuple[Tensor, ...]]:
        taps = self.trunk(x)
        return {t: self.branches[t](taps) for t in self.tasks}
