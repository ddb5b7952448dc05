"""The MTL-NAS search space: gated cross-task fusion edges between fixed
single-task networks (Gao et al., CVPR 2020, Sec. 3).

One column per task (a staged backbone, run by :class:`TaskColumns`); after
layer ``i`` of task ``t`` a fusion op (NDDR: concat, 1x1 conv, BN, ReLU, or
cross-stitch) combines the layer's own output with the *pre-fusion*
outputs of the other tasks' candidate source layers, each multiplied by a
gate.  This file owns every fact of the space:

* the candidate edges (from :func:`~mtlnas_mm.structures.build_candidate_edges`
  and a :class:`~mtlnas_mm.structures.ConnectivityRule`);
* one logit ``alpha`` per edge and the gate modes (:data:`GATE_MODES`):

  ``sigmoid``  ``sigmoid(alpha)`` (deterministic relaxation; the
               architecture step of MTL-NAS)
  ``relaxed``  a reparameterised RelaxedBernoulli(temperature, alpha)
               sample (the weight step of MTL-NAS)
  ``hard``     ``1[alpha > 0]``, edges with gate 0 are not computed
               (evaluation of the searched model without retraining)
  ``ones``     every candidate on (NDDR-CNN, cross-stitch, the all-edges
               supernet baseline)
  ``fixed``    a derived architecture: only its kept edges exist
* the regulariser (mean binary entropy of the gates, the minimum-entropy
  term) and the derivation (the keep rule
  :data:`~mtlnas_mm.structures.KEEP_LOGIT`);
* optional **edge pruning** during the search (``prune=dict(below=p,
  patience=n)``; off by default and in the official recipe, which
  computes every candidate edge until the end): an edge whose gate
  ``sigmoid(alpha)`` has stayed below ``p`` for ``n`` consecutive
  architecture updates is no longer computed in either step, so the
  search gets cheaper as the gates commit.  A pruned edge stays pruned
  (its alpha no longer gets task gradients), is never kept by the
  derivation, and stays in the exported candidate set
  (``meta['pruned']`` lists it).  The counters are buffers: a resumed
  search continues them.
"""
import copy
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import ModuleDict
from torch import Tensor
from torch.distributions import Bernoulli, RelaxedBernoulli

from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mtlnas_mm.structures import (KEEP_LOGIT, Architecture, ConnectivityRule,
                                  Edge, build_candidate_edges,
                                  check_task_name)
from ..backbones.staged import block_end_layers
from ..layers import build_fusion
from .base import (ARCH_STEP, WEIGHT_STEP, BaseSearchSpace, SpaceModes,
                   check_step)

#: every gate mode (see the module docstring)
GATE_MODES = ('sigmoid', 'relaxed', 'hard', 'ones', 'fixed')
#: modes whose gates are differentiable functions of the alphas
SOFT_MODES = ('sigmoid', 'relaxed')
#: modes in which the alphas are searched
SEARCH_MODES = ('sigmoid', 'relaxed', 'hard')
#: a gate counts as near-binary within this distance of 0 or 1
BINARY_MARGIN = 0.05
#: gate mode of each step of a search (MTL-NAS)
DEFAULT_STEP_GATE_MODES = {ARCH_STEP: 'sigmoid', WEIGHT_STEP: 'relaxed'}
#: the checks of the gate-mode arguments, with the defaults above
MODES = SpaceModes('FusionEdges', 'gate', GATE_MODES, SEARCH_MODES,
                   'sigmoid', DEFAULT_STEP_GATE_MODES)

Node = Tuple[str, int]  # (task, layer)
#: per target node: the computed edges as (slot, edge)
Plan = Dict[Node, List[Tuple[int, Edge]]]


@MODELS.register_module()
class FusionEdges(BaseSearchSpace):
    """Cross-task fusion edges of :class:`TaskColumns` (the MTL-NAS space).

    ``tasks``, ``layer_channels`` and ``layer_blocks`` are given by the
    :class:`TaskColumns` that owns this module (from its columns).

    Args:
        tasks: task names, in order.
        layer_channels: output channels of every column layer.
        layer_blocks: block id of every column layer.
        connectivity: fields of :class:`ConnectivityRule` (MTL-NAS default:
            same block, source layer <= target layer, gap < 3).
        fusion: fusion-op config: ``type`` ``'nddr'`` (default) or
            ``'cross_stitch'`` (or a registered name), ``init=(w_t, w_s)``
            (default (1, 0)), and for nddr ``norm_cfg`` / ``act_cfg``.
        fusion_layers: layers with a fusion op: ``None``/``'all'`` (every
            layer, MTL-NAS), ``'block_ends'`` (NDDR-CNN placement) or a list.
            Edges only target these layers.
        gate_mode: gate mode of a training forward outside a bilevel step
            (and the only mode of ``'ones'`` / ``'fixed'``); ``None`` =
            ``'fixed'`` with ``architecture``, else ``'sigmoid'``.
        step_gate_modes: gate mode of each step of a search,
            ``dict(arch='sigmoid', weight='relaxed')`` by default.
        eval_gate_mode: gate mode in eval (searched spaces).
        temperature: RelaxedBernoulli temperature.
        alpha_init: initial edge logits (0 = gate probability 0.5).
        prune: ``None`` (default) or ``dict(below=p, patience=n)``: stop
            computing an edge once its gate stayed below ``p``
            (``0 < p <= 0.5``: an edge the keep rule would keep is never
            pruned) for ``n >= 1`` consecutive architecture updates (module
            docstring).
        architecture: a derived :class:`Architecture`, its dict or a
            ``.json`` / ``.yaml`` path (see :meth:`fix`).
        init_cfg: mmengine init config.
    """

    modes = MODES
    eval_mode_attr = 'eval_gate_mode'

    def __init__(self,
                 tasks: Sequence[str],
                 layer_channels: Sequence[int],
                 layer_blocks: Sequence[int],
                 connectivity: Optional[dict] = None,
                 fusion: Optional[dict] = None,
                 fusion_layers: Union[None, str, Sequence[int]] = None,
                 gate_mode: Optional[str] = None,
                 step_gate_modes: Optional[Mapping[str, str]] = None,
                 eval_gate_mode: str = 'hard',
                 temperature: float = 1.0,
                 alpha_init: float = 0.0,
                 prune: Optional[Mapping[str, float]] = None,
                 architecture: Union[None, str, dict, Architecture] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks: List[str] = [check_task_name(t) for t in tasks]
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f'FusionEdges.tasks: duplicates in {tasks}')
        self.layer_channels = [int(c) for c in layer_channels]
        self.layer_blocks = [int(b) for b in layer_blocks]
        if len(self.layer_channels) != len(self.layer_blocks):
            raise ValueError('FusionEdges: layer_channels and layer_blocks '
                             'must have one entry per layer')
        self.num_layers = len(self.layer_channels)
        self.block_ends = block_end_layers(self.layer_blocks)
        self.fusion_layers = self._parse_fusion_layers(fusion_layers)

        # -------- gate modes
        fixed = architecture is not None
        gate_mode, self.step_gate_modes, eval_gate_mode = MODES.resolve(
            gate_mode, step_gate_modes, eval_gate_mode, fixed)

        # -------- candidate edges
        rule = ConnectivityRule.build(connectivity)
        if rule.target_layers is None:
            rule = ConnectivityRule(rule.same_block, rule.max_gap,
                                    rule.same_layer_only,
                                    tuple(self.fusion_layers))
        self.edges: List[Edge] = build_candidate_edges(
            self.tasks, self.layer_blocks, rule)
        self._check_edges(self.edges, 'connectivity')
        self._searchable = gate_mode in SEARCH_MODES and bool(self.edges)
        #: the configured training gate mode (``set_step(None)``)
        self.train_gate_mode = gate_mode
        self.gate_mode = gate_mode
        self.eval_gate_mode = (eval_gate_mode
                               if self._searchable else self.gate_mode)
        self.set_temperature(temperature)

        # -------- gate logits: one vector per target task, edge order
        #: per edge: position in its target task's alpha vector
        self.task_index: Dict[Edge, int] = {}
        counts = {t: 0 for t in self.tasks}
        for e in self.edges:
            self.task_index[e] = counts[e.target_task]
            counts[e.target_task] += 1
        self.alphas = nn.ParameterDict({
            t: nn.Parameter(
                torch.full((n, ), float(alpha_init)),
                requires_grad=self._searchable)
            for t, n in counts.items() if n > 0
        })

        # -------- fusion ops: one per (task, fusion layer)
        fusion = dict(type='nddr', init=(1.0, 0.0)) if fusion is None \
            else copy.deepcopy(dict(fusion))
        self.fusions = ModuleDict()
        #: per target node: candidate edges in slot order
        self._slots: Dict[Node, List[Edge]] = {}
        for t in self.tasks:
            ops = ModuleDict()
            for i in self.fusion_layers:
                incoming = [e for e in self.edges
                            if e.target_task == t and e.target_layer == i]
                self._slots[(t, i)] = incoming
                ops[str(i)] = build_fusion(fusion, self.layer_channels[i],
                                           len(incoming))
            self.fusions[t] = ops
        self._full_plan: Plan = {
            node: list(enumerate(edges))
            for node, edges in self._slots.items()
        }
        self.fixed_architecture: Optional[Architecture] = None
        self._fixed_plan: Optional[Plan] = None
        self.prune = self._parse_prune(prune)
        if self.prune is not None:
            # per candidate edge: consecutive updates below the threshold,
            # and whether it is pruned (checkpointed: a resume continues)
            n = len(self.edges)
            self.register_buffer('prune_count',
                                 torch.zeros(n, dtype=torch.long))
            self.register_buffer('pruned', torch.zeros(n, dtype=torch.bool))
        self._pruned_edges: frozenset = frozenset()
        if fixed:
            self.fix_configured(architecture, Architecture)

    # ------------------------------------------------------------------
    # configuration checks
    # ------------------------------------------------------------------
    def _parse_fusion_layers(self, layers) -> List[int]:
        if layers is None or layers == 'all':
            return list(range(self.num_layers))
        if layers == 'block_ends':
            return list(self.block_ends)
        if isinstance(layers, str):
            raise ValueError('FusionEdges.fusion_layers: expected None, '
                             f'"all", "block_ends" or a list, got {layers!r}')
        out = sorted({int(i) for i in layers})
        bad = [i for i in out if not 0 <= i < self.num_layers]
        if bad:
            raise ValueError(f'FusionEdges.fusion_layers: layers {bad} out '
                             f'of range [0, {self.num_layers})')
        return out

    @staticmethod
    def _parse_prune(prune: Optional[Mapping[str, float]]
                     ) -> Optional[Tuple[float, int]]:
        if prune is None:
            return None
        prune = dict(prune)
        if set(prune) != {'below', 'patience'}:
            raise KeyError('FusionEdges.prune: expected None or '
                           f'dict(below=..., patience=...), got {prune}')
        below, patience = float(prune['below']), prune['patience']
        if not 0 < below <= 0.5:
            raise ValueError('FusionEdges.prune.below: a gate probability '
                             f'in (0, 0.5], got {prune["below"]!r}')
        if not isinstance(patience, int) or patience < 1:
            raise ValueError('FusionEdges.prune.patience: an integer >= 1, '
                             f'got {patience!r}')
        return below, patience

    def _check_edges(self, edges: Sequence[Edge], key: str) -> None:
        fusion_layers = set(self.fusion_layers)
        for e in edges:
            for task, layer in ((e.target_task, e.target_layer),
                                (e.source_task, e.source_layer)):
                if task not in self.tasks:
                    raise ValueError(f'{key}: edge {e.key} uses unknown '
                                     f'task {task!r} (tasks: {self.tasks})')
                if not 0 <= layer < self.num_layers:
                    raise ValueError(f'{key}: edge {e.key} uses layer '
                                     f'{layer} of {self.num_layers}')
            if e.target_layer not in fusion_layers:
                raise ValueError(f'{key}: edge {e.key} targets layer '
                                 f'{e.target_layer}, which has no fusion op '
                                 '(fusion_layers)')
            if self.layer_channels[e.source_layer] != \
                    self.layer_channels[e.target_layer]:
                raise ValueError(
                    f'{key}: edge {e.key} joins '
                    f'{self.layer_channels[e.source_layer]} and '
                    f'{self.layer_channels[e.target_layer]} channels; '
                    'sources must have the target width (use same_block)')

    # ------------------------------------------------------------------
    # the search-space interface
    # ------------------------------------------------------------------
    @property
    def searchable(self) -> bool:
        return self._searchable

    def arch_parameters(self) -> List[nn.Parameter]:
        """The alphas when searched, else ``[]``."""
        return list(self.alphas.values()) if self._searchable else []

    def set_step(self, step: Optional[str]) -> None:
        """Gate mode of the next training forward: the step's mode from
        ``step_gate_modes``, or ``gate_mode`` for ``None`` (searched spaces;
        a no-op otherwise)."""
        check_step(step, 'FusionEdges.set_step')
        if self._searchable:
            self.gate_mode = (self.train_gate_mode if step is None else
                              self.step_gate_modes[step])

    def set_temperature(self, temperature: float) -> None:
        """Temperature of the ``relaxed`` gates (>= 0).

        The official schedule ``(1 - t/T)^2`` has no floor and reaches
        about 2.5e-9; torch's RelaxedBernoulli stays finite there (its
        probabilities are clamped, the gates saturate and their gradient is
        0).  At exactly 0 the relaxation is replaced by its limit, a hard
        Bernoulli(sigmoid(alpha)) sample without gradient (the relaxed
        formula would give 0/0)."""
        if not temperature >= 0:
            raise ValueError('FusionEdges.temperature must be >= 0, got '
                             f'{temperature!r}')
        self.temperature = float(temperature)
        # what the relaxed gates read: a tensor updated in place, so that a
        # compiled forward (cfg.compile) takes each scheduled value as an
        # input instead of recompiling for it
        self._zero_temperature = self.temperature == 0
        if not hasattr(self, '_tau'):
            self.register_buffer(
                '_tau', torch.tensor(self.temperature), persistent=False)
        else:
            self._tau.fill_(self.temperature)

    def logits(self) -> Tensor:
        """All alphas, flat, in candidate-edge order."""
        if not len(self.alphas):
            return torch.zeros(0)
        return torch.cat([self.alphas[t] for t in self.tasks
                          if t in self.alphas])

    def gate_probs(self) -> Tensor:
        """Per candidate edge: ``sigmoid(alpha)`` when searched, else the
        effective gate (1, or kept 0/1)."""
        if self._searchable or not self.edges:
            return self.logits().sigmoid()
        kept = self.derive().kept
        ref = self.logits()
        return ref.new_tensor([float(e in kept) for e in self.edges])

    def regularizer(self) -> Tensor:
        """Mean binary entropy (nats) of the gates; 0-dim, differentiable
        (0 when not searched): the minimum-entropy term."""
        logits = self.logits()
        if not self._searchable or logits.numel() == 0:
            return logits.new_zeros(())
        return Bernoulli(logits=logits).entropy().mean()

    def derive(self) -> Architecture:
        """The current (searched) or built-in (fixed / ones)
        architecture."""
        if self.fixed_architecture is not None:
            return self.fixed_architecture
        if not self._searchable:
            return Architecture(self.edges, self.edges, tasks=self.tasks)
        logits = self.logits().detach().float().cpu().tolist()
        arch = Architecture.from_logits(self.edges, logits, tasks=self.tasks)
        pruned = self.pruned_edges
        if not pruned:
            return arch
        return Architecture(
            arch.edges, arch.kept - pruned, arch.gates, tasks=arch.tasks,
            meta=dict(pruned=[e.key for e in self.edges if e in pruned]))

    def fix(self, arch: Architecture, source: str = 'architecture') -> None:
        """Become the derived network of ``arch``: only its kept edges are
        computed (``gate_mode='fixed'``); its candidate edges must be this
        space's (so every parameter keeps its name and shape)."""
        if not isinstance(arch, Architecture):
            raise TypeError(f'{source}: a fusion-edge space needs a '
                            f'{Architecture.kind!r} architecture, got '
                            f'{getattr(arch, "kind", type(arch).__name__)!r}')
        self._check_edges(arch.edges, source)
        if list(arch.edges) != self.edges:
            raise ValueError(
                f'{source}: its {len(arch.edges)} candidate edges differ '
                f'from the {len(self.edges)} of this model (connectivity, '
                'fusion_layers and tasks must be those of the search)')
        self.fixed_architecture = arch
        self._fixed_plan = self._plan_from_kept(arch.kept)
        self._searchable = False
        for alpha in self.alphas.values():
            alpha.requires_grad_(False)
        self.gate_mode = self.eval_gate_mode = self.train_gate_mode = 'fixed'

    def log_stats(self,
                  binary_margin: float = BINARY_MARGIN) -> Dict[str, float]:
        """Gate mean, fraction within ``binary_margin`` of 0/1 and number
        of kept edges (searched spaces; ``{}`` otherwise)."""
        if not self._searchable:
            return {}
        logits = self.logits().detach()
        probs = logits.sigmoid()
        near = (probs < binary_margin) | (probs > 1 - binary_margin)
        stats = dict(gate_mean=probs.mean().item(),
                     gate_binary_frac=near.float().mean().item(),
                     gate_kept=len(self.derive().kept))
        if self.prune is not None:
            stats['gate_pruned'] = len(self.pruned_edges)
        return stats

    # ------------------------------------------------------------------
    # edge pruning (``prune``)
    # ------------------------------------------------------------------
    @property
    def pruned_edges(self) -> frozenset:
        """The candidate edges pruned so far (empty without ``prune``)."""
        return self._pruned_edges if self._searchable else frozenset()

    def _sync_pruned(self) -> None:
        """The edge set of the ``pruned`` buffer (one host sync)."""
        mask = self.pruned.tolist()
        self._pruned_edges = frozenset(
            e for e, m in zip(self.edges, mask) if m)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        if self.prune is not None:  # a resumed search continues its pruning
            self._sync_pruned()

    @torch.no_grad()
    def after_arch_update(self) -> None:
        """Count the updates each gate has stayed below ``prune.below``
        and prune the edges that reached ``prune.patience``."""
        if self.prune is None or not self._searchable:
            return
        below, patience = self.prune
        closed = self.logits().detach().sigmoid().lt(below).to(
            self.prune_count.device)
        self.prune_count.add_(1).mul_(closed)
        self.pruned.logical_or_(self.prune_count >= patience)
        self._sync_pruned()

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    @property
    def active_gate_mode(self) -> str:
        """The gate mode the next forward uses."""
        return self.gate_mode if self.training else self.eval_gate_mode

    def _plan_from_kept(self, kept) -> Plan:
        return {
            node: [(s, e) for s, e in enumerate(edges) if e in kept]
            for node, edges in self._slots.items()
        }

    def _plan(self, mode: str) -> Plan:
        if mode == 'fixed':
            return self._fixed_plan
        pruned = self.pruned_edges
        if mode == 'hard':
            mask = self.logits().detach().gt(KEEP_LOGIT).tolist()  # 1 sync
            kept = {e for e, k in zip(self.edges, mask) if k}
            return self._plan_from_kept(kept - pruned)
        if pruned:
            return self._plan_from_kept(set(self.edges) - pruned)
        return self._full_plan

    def soft_gates(self, mode: str) -> Dict[str, List[Tensor]]:
        """The gates of a soft mode (``'sigmoid'``, or ``'relaxed'``: one
        relaxed-Bernoulli draw at the current temperature): per target
        task, one 0-dim gate per edge (task order)."""
        out = {}
        for t, alpha in self.alphas.items():
            if mode == 'sigmoid':
                g = alpha.sigmoid()
            elif self._zero_temperature:  # the limit of the relaxation
                g = Bernoulli(logits=alpha.detach()).sample()
            else:
                tau = self._tau.to(dtype=alpha.dtype, device=alpha.device)
                g = RelaxedBernoulli(tau, logits=alpha).rsample()
            out[t] = list(g.unbind(0))
        return out

    def fuser(self) -> '_Fuser':
        """A fresh per-forward fusion callback for
        :func:`~mtlnas_mm.models.backbones.staged.run_staged` (draws the
        sampled gates of this forward)."""
        mode = self.active_gate_mode
        gates = self.soft_gates(mode) if mode in SOFT_MODES else None
        return _Fuser(self, self._plan(mode), gates)


class _Fuser:
    """Applies the fusion ops of one forward, layer by layer, keeping each
    source output only until its last reader."""

    def __init__(self, space: FusionEdges, plan: Plan,
                 gates: Optional[Dict[str, List[Tensor]]]) -> None:
        self.space, self.plan, self.gates = space, plan, gates
        self.last_use: Dict[Node, int] = {}
        for edges in plan.values():
            for _, e in edges:
                node = (e.source_task, e.source_layer)
                self.last_use[node] = max(
                    self.last_use.get(node, -1), e.target_layer)
        self.raw: Dict[Node, Tensor] = {}

    def __call__(self, i: int, cur: Dict[str, Tensor]) -> Dict[str, Tensor]:
        space = self.space
        for t in space.tasks:
            if (t, i) in self.last_use:
                self.raw[(t, i)] = cur[t]
        x = {}
        for t in space.tasks:
            if (t, i) not in self.plan:  # no fusion op at this layer
                x[t] = cur[t]
                continue
            active = self.plan[(t, i)]
            sources = [
                self._align(self.raw[(e.source_task, e.source_layer)], cur[t])
                for _, e in active
            ]
            slot_gates = None
            if self.gates is not None:
                task_gates = self.gates[t]
                slot_gates = [
                    task_gates[space.task_index[e]] for _, e in active
                ]
            x[t] = space.fusions[t][str(i)](cur[t], sources,
                                            [s for s, _ in active],
                                            slot_gates)
        for node in [n for n, last in self.last_use.items() if last <= i]:
            self.raw.pop(node, None)
        return x

    @staticmethod
    def _align(src: Tensor, own: Tensor) -> Tensor:
        """Resize a source to the target's spatial size if they differ
        (never within a block)."""
        if src.shape[2:] == own.shape[2:]:
            return src
        return resize(src, size=own.shape[2:], mode='bilinear',
                      align_corners=False)
