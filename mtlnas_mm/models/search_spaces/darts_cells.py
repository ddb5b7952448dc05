"""The MTNAS search space: operations inside DARTS cells (Liu et al.,
DARTS, ICLR 2019; per network part in MTNAS, Liu et al., ACCV 2020).

A :class:`DartsCellSpace` is one searched part of a network (the shared
backbone's cell stack, or one task branch's): its cells and their
architecture parameters.

* **edge** (:class:`MixedOp`): every op of
  :data:`~mtlnas_mm.structures.PRIMITIVES`, weighted by
  ``softmax(alpha_edge)``; one alpha vector per edge;
* **cell** (:class:`SearchCell`): inputs ``s0, s1`` (the outputs of the
  two previous cells, preprocessed to ``C`` channels at ``s1``'s
  resolution), ``steps`` intermediate nodes, node ``j`` = sum of the mixed
  ops on its edges from the two inputs and every earlier node; output =
  concat of the nodes (``steps * C`` channels).  In a reduction cell the
  edges reading the inputs have stride 2;
* **alphas**: one ``(num_edges, num_ops)`` tensor per cell type
  (``normal``, and ``reduce`` when the part has reduction cells), shared by
  all cells of that type in the part (DARTS);
* **relaxation**: the softmax, in both steps of the bilevel iteration and
  in eval (DARTS: no sampling, so :meth:`set_step` and
  :meth:`set_temperature` change nothing);
* **regulariser**: the mean softmax entropy (nats) of the edges; the MTNAS
  configs weight it 0 (plain DARTS), a hook may raise it;
* **derivation**: :func:`~mtlnas_mm.structures.derive_cell`, the DARTS
  rule, per cell type; the result is a ``'cell_genotype'`` architecture
  under this space's :attr:`space_name`;
* **fix**: every cell computes only its genotype's ops (the other ops keep
  their parameters, and their names, so a search checkpoint loads, but
  stop being trainable: they get no gradient, which DDP without
  ``find_unused_parameters`` would wait for; :meth:`discard_unused` drops
  them for a retrained network).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ModuleList
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import (PRIMITIVES, BaseArchitecture,
                                  CellArchitecture, CellGenotype,
                                  SpaceGenotype, check_choice, derive_cell,
                                  edge_offset, num_cell_edges)
from mtlnas_mm.structures.cell_genotype import CELL_TYPES, NONE_OP
from ..layers.darts_ops import FactorizedReduce, ReLUConvBN, build_op
from .base import BaseSearchSpace, check_step

#: how a cell aligns its first input ``s0`` with ``s1`` before the 1x1
#: preprocessing: ``same`` resolution, ``reduce`` (``s0`` twice as large:
#: the cell after a reduction), ``resize`` (bilinear to ``s1``'s size: the
#: decoder, where ``s0`` is the coarser previous level)
ALIGN_MODES = ('same', 'reduce', 'resize')
#: per intermediate node of a fixed cell: the (edge index, op index) pairs
Plan = List[List[Tuple[int, int]]]


class MixedOp(nn.Module):
    """All candidate ops of one edge; ``forward(x, weights)`` is their
    weighted sum.  ``none`` is not computed (its term is zero and so is
    its gradient)."""

    def __init__(self, channels: int, stride: int,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        self.ops = ModuleList(
            [build_op(name, channels, stride, norm_cfg)
             for name in PRIMITIVES])

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        out = None
        for k, (name, op) in enumerate(zip(PRIMITIVES, self.ops)):
            if name == NONE_OP:
                continue
            term = weights[k] * op(x)
            out = term if out is None else out + term
        return out


class SearchCell(nn.Module):
    """A DARTS cell: all candidate edges, or (fixed) only a genotype's.

    Args:
        c_prev_prev: channels of ``s0``.
        c_prev: channels of ``s1``.
        channels: ``C``, the width of every node.
        reduction: a reduction cell (input edges stride 2).
        align: how ``s0`` is aligned with ``s1`` (:data:`ALIGN_MODES`).
        steps: intermediate nodes.
        norm_cfg: mmcv norm config of every op.
    """

    def __init__(self, c_prev_prev: int, c_prev: int, channels: int,
                 reduction: bool, align: str = 'same', steps: int = 4,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        check_choice(align, ALIGN_MODES, 'SearchCell: align')
        self.reduction, self.align, self.steps = reduction, align, steps
        self.out_channels = steps * channels
        if align == 'reduce':
            self.preprocess0 = FactorizedReduce(c_prev_prev, channels,
                                                norm_cfg)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1,
                                          norm_cfg)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, norm_cfg)
        self.edges = ModuleList()
        for node in range(steps):
            for i in range(2 + node):
                stride = 2 if reduction and i < 2 else 1
                self.edges.append(MixedOp(channels, stride, norm_cfg))
        self.plan: Optional[Plan] = None

    @property
    def cell_type(self) -> str:
        return 'reduce' if self.reduction else 'normal'

    def fix(self, genotype: CellGenotype) -> None:
        """Compute only ``genotype``'s ops from now on."""
        if genotype.steps != self.steps:
            raise ValueError(f'a {genotype.steps}-node genotype for a '
                             f'{self.steps}-node cell')
        self.plan = [[(edge_offset(node) + i, PRIMITIVES.index(op))
                      for op, i in genotype.node_edges(node)]
                     for node in range(self.steps)]
        # the ops outside the plan get no gradient: not trainable (DDP
        # with find_unused_parameters=False waits for every trainable
        # parameter); they keep their names, so a search checkpoint loads
        for e, k in self.unused_ops():
            self.edges[e].ops[k].requires_grad_(False)

    def unused_ops(self) -> List[Tuple[int, int]]:
        """The (edge index, op index) pairs a fixed cell never computes
        (``[]`` while searched)."""
        if self.plan is None:
            return []
        used = {(e, k) for node in self.plan for e, k in node}
        return [(e, k) for e, edge in enumerate(self.edges)
                for k in range(len(edge.ops)) if (e, k) not in used]

    def forward(self, s0: Tensor, s1: Tensor,
                weights: Optional[Tensor] = None) -> Tensor:
        """``weights``: ``(num_edges, num_ops)`` op weights (search), or
        ``None`` for a fixed cell."""
        if self.align == 'resize' and s0.shape[2:] != s1.shape[2:]:
            s0 = F.interpolate(s0, size=s1.shape[2:], mode='bilinear',
                               align_corners=False)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(self.steps):
            if self.plan is not None:
                terms = [self.edges[e].ops[k](states[e - edge_offset(node)])
                         for e, k in self.plan[node]]
            else:
                if weights is None:
                    raise RuntimeError('a search cell needs op weights')
                start = edge_offset(node)
                terms = [self.edges[start + i](h, weights[start + i])
                         for i, h in enumerate(states)]
            states.append(sum(terms[1:], terms[0]))
        return torch.cat(states[2:], dim=1)


@MODELS.register_module()
class DartsCellSpace(BaseSearchSpace):
    """The cells of one network part and their alphas (see the module
    docstring).  The part (:class:`CellTrunk`, :class:`CellDecoderBranch`)
    builds the space with its cell layout and runs the cells with
    :meth:`forward_cell`.

    Args:
        space_name: the part's name in a genotype file (``'backbone'``,
            ``'branches.<task>'``).
        cells: one dict per cell: ``c_prev_prev``, ``c_prev``,
            ``channels``, ``reduction``, ``align`` (see
            :class:`SearchCell`).
        steps: intermediate nodes per cell (4).
        norm_cfg: mmcv norm config of the ops (DARTS searches with
            ``dict(type='BN', affine=False)``).
        alpha_init_std: alphas start as ``std * N(0, 1)`` (DARTS: 1e-3).
        genotype: a ``'cell_genotype'`` architecture (object, dict, file)
            holding this space's genotype: the space is fixed to it.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 space_name: str,
                 cells: Sequence[dict],
                 steps: int = 4,
                 norm_cfg: Optional[dict] = None,
                 alpha_init_std: float = 1e-3,
                 genotype: Union[None, str, dict, CellArchitecture] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not space_name or not isinstance(space_name, str):
            raise ValueError('DartsCellSpace.space_name must be a non-empty '
                             f'string, got {space_name!r}')
        if not cells:
            raise ValueError(f'DartsCellSpace({space_name}): no cells')
        self.space_name = space_name
        self.steps = int(steps)
        self.cells = ModuleList([
            SearchCell(steps=self.steps, norm_cfg=norm_cfg, **dict(c))
            for c in cells
        ])
        self.cell_types: Tuple[str, ...] = tuple(
            t for t in CELL_TYPES
            if any(c.cell_type == t for c in self.cells))
        n_edges = num_cell_edges(self.steps)
        self.alphas = nn.ParameterDict({
            t: nn.Parameter(alpha_init_std *
                            torch.randn(n_edges, len(PRIMITIVES)))
            for t in self.cell_types
        })
        self.fixed_architecture: Optional[CellArchitecture] = None
        if genotype is not None:
            self.fix_configured(genotype, CellArchitecture, 'genotype')

    # ------------------------------------------------------------------
    # the search-space interface
    # ------------------------------------------------------------------
    @property
    def searchable(self) -> bool:
        return self.fixed_architecture is None

    def arch_parameters(self) -> List[nn.Parameter]:
        """The alphas while searched, else ``[]``."""
        return list(self.alphas.values()) if self.searchable else []

    def set_step(self, step: Optional[str]) -> None:
        """The softmax relaxation serves both steps (DARTS): no-op."""
        check_step(step, 'DartsCellSpace.set_step')

    def op_weights(self) -> Dict[str, Tensor]:
        """Per cell type, ``softmax(alpha)`` over the ops of each edge."""
        return {t: F.softmax(a, dim=-1) for t, a in self.alphas.items()}

    def regularizer(self) -> Tensor:
        """Mean softmax entropy (nats) of the edges; 0-dim,
        differentiable; 0 when fixed."""
        ref = next(iter(self.alphas.values()))
        if not self.searchable:
            return ref.new_zeros(())
        ents = [-(p * p.clamp_min(1e-12).log()).sum(-1)
                for p in self.op_weights().values()]
        return torch.cat(ents).mean()

    def derive(self) -> CellArchitecture:
        """The fixed genotype, or the DARTS rule on the current alphas."""
        if self.fixed_architecture is not None:
            return self.fixed_architecture
        probs = {t: p.detach().float().cpu().tolist()
                 for t, p in self.op_weights().items()}
        cells = {t: derive_cell(rows) for t, rows in probs.items()}
        genotype = SpaceGenotype(cells['normal'], cells.get('reduce'))
        return CellArchitecture({self.space_name: genotype},
                                probs={self.space_name: probs})

    def fix(self, arch: BaseArchitecture,
            source: str = 'architecture') -> None:
        """Become the derived part of ``arch``'s genotype for this space:
        each cell computes only its two chosen ops per node, the others
        stop being trainable (``requires_grad=False``, names kept); the
        alphas stop being architecture parameters."""
        if not isinstance(arch, CellArchitecture):
            raise TypeError(f'{source}: a DARTS cell space needs a '
                            f'{CellArchitecture.kind!r} architecture, got '
                            f'{getattr(arch, "kind", type(arch).__name__)!r}')
        key = f'genotypes.{self.space_name}'
        if self.space_name not in arch.genotypes:
            raise ValueError(f'{source}: key "{key}": missing; the file has '
                             f'{sorted(arch.genotypes)}')
        genotype = arch.genotypes[self.space_name]
        cells = genotype.cells()
        for t in CELL_TYPES:
            g = cells[t]
            if (g is None) != (t not in self.cell_types):
                need = 'needs' if t in self.cell_types else 'has no'
                raise ValueError(f'{source}: key "{key}.{t}": this part '
                                 f'{need} {t} cells')
            if g is not None and g.steps != self.steps:
                raise ValueError(f'{source}: key "{key}.{t}": {g.steps} '
                                 f'nodes, the cells have {self.steps}')
        for cell in self.cells:
            cell.fix(cells[cell.cell_type])
        probs = (arch.probs or {}).get(self.space_name)
        self.fixed_architecture = CellArchitecture(
            {self.space_name: genotype},
            None if probs is None else {self.space_name: probs},
            meta=arch.meta)
        for alpha in self.alphas.values():
            alpha.requires_grad_(False)

    def discard_unused(self) -> None:
        """Drop the ops a fixed space never computes (a network retrained
        from scratch needs no supernet weights; the kept ops keep their
        names).  Replaces them by parameter-free placeholders."""
        if self.fixed_architecture is None:
            raise RuntimeError(f'DartsCellSpace({self.space_name}): only a '
                               'fixed space can discard its unused ops')
        for cell in self.cells:
            for e, k in cell.unused_ops():
                cell.edges[e].ops[k] = nn.Identity()

    def log_stats(self) -> Dict[str, float]:
        """Per cell type, the mean over edges of the largest op weight
        (1/num_ops = undecided, 1 = one-hot)."""
        if not self.searchable:
            return {}
        return {
            f'{self.space_name}.{t}_max_weight':
            p.detach().max(-1).values.mean().item()
            for t, p in self.op_weights().items()
        }

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def cell_weights(self) -> Optional[Dict[str, Tensor]]:
        """The op weights of this forward (``None`` when fixed): compute
        once per forward, pass to :meth:`forward_cell`."""
        return None if not self.searchable else self.op_weights()

    def forward_cell(self, index: int, s0: Tensor, s1: Tensor,
                     weights: Optional[Dict[str, Tensor]]) -> Tensor:
        cell = self.cells[index]
        return cell(s0, s1,
                    None if weights is None else weights[cell.cell_type])


def uniform_entropy() -> float:
    """Entropy (nats) of a uniform edge: the regulariser at alpha = 0."""
    return math.log(len(PRIMITIVES))
