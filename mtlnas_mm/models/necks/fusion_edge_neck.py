"""The MTL-NAS search space: gated cross-task edges between task backbones.
"""
import copy
from typing import (Dict, List, Mapping, Optional, Sequence, Set, Tuple,
                    Union)

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import (Architecture, ConnectivityRule, Edge,
                                  build_candidate_edges, check_task_name)
from ..backbones.staged import block_end_layers
from .edge_gates import GATE_MODES, SOFT_MODES, EdgeGates
from .fusion_ops import build_fusion

#: (task, layer)
Node = Tuple[str, int]
#: per target node: the computed edges as (slot, edge)
Plan = Dict[Node, List[Tuple[int, Edge]]]


@MODELS.register_module()
class FusionEdgeNeck(BaseModule):
    """Interleave one staged backbone per task with gated fusion edges.

    After layer ``i`` of every task, the fusion op of ``(task, i)`` combines
    the task's own layer output with the *pre-fusion* outputs of the other
    tasks' layers that are its candidate sources (spec section 1.4), each
    multiplied by a scalar gate.  The fused feature feeds layer ``i + 1``.

    Gate modes (design.md):

    * ``sigmoid``: ``g = sigmoid(alpha)``;
    * ``relaxed``: ``g ~ RelaxedBernoulli(temperature, logits=alpha)``
      (reparameterised);
    * ``hard``: ``g = 1[alpha > 0]``; gate-0 edges are not computed;
    * ``ones``: every candidate on (supernet / NDDR / cross-stitch
      baselines); nothing is searched;
    * ``fixed``: a derived ``architecture`` given at build time; only its
      kept edges are computed; nothing is searched.

    ``gate_mode`` is used in training, ``eval_gate_mode`` when
    ``not self.training`` (searchable necks only).  In ``hard`` / ``fixed``
    mode a pruned edge costs nothing: its source is not concatenated, the
    fusion conv uses only the weight columns of the computed inputs, and a
    layer output that no computed edge reads is not retained.  Parameter
    shapes do not depend on the mode, so a searched checkpoint loads into
    the fixed-architecture model unchanged.

    Args:
        tasks: task names (order fixes the edge order).
        layer_channels: output channels of every backbone layer.
        layer_blocks: block id of every backbone layer.
        connectivity: fields of :class:`ConnectivityRule` (MTL-NAS default:
            same block, source layer <= target layer, gap < 3).
        fusion: fusion-op config: ``type`` ``'nddr'`` (default) or
            ``'cross_stitch'`` (or a registered name), ``init=(w_t, w_s)``
            (default (1, 0)), and for nddr ``norm_cfg`` / ``act_cfg``.
        fusion_layers: layers with a fusion op: ``None``/``'all'`` (every
            layer, MTL-NAS), ``'block_ends'`` (NDDR-CNN placement) or a list.
            Edges only target these layers.
        gate_mode: training gate mode; default ``'fixed'`` if
            ``architecture`` is given, else ``'sigmoid'``.
        eval_gate_mode: gate mode in eval (searchable necks).
        temperature: RelaxedBernoulli temperature (``set_temperature``).
        alpha_init: initial edge logits.
        architecture: a derived :class:`Architecture`, its dict or a
            ``.json`` / ``.yaml`` path; its candidate edges are the
            candidates of this neck (so shapes match the searched model).
    """

    def __init__(self,
                 tasks: Sequence[str],
                 layer_channels: Sequence[int],
                 layer_blocks: Sequence[int],
                 connectivity: Optional[dict] = None,
                 fusion: Optional[dict] = None,
                 fusion_layers: Union[None, str, Sequence[int]] = None,
                 gate_mode: Optional[str] = None,
                 eval_gate_mode: str = 'hard',
                 temperature: float = 1.0,
                 alpha_init: float = 0.0,
                 architecture: Union[None, str, dict, Architecture] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks: List[str] = [check_task_name(t) for t in tasks]
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f'FusionEdgeNeck.tasks: duplicates in {tasks}')
        self.layer_channels = [int(c) for c in layer_channels]
        self.layer_blocks = [int(b) for b in layer_blocks]
        if len(self.layer_channels) != len(self.layer_blocks):
            raise ValueError('FusionEdgeNeck: layer_channels and layer_blocks'
                             ' must have one entry per layer')
        self.num_layers = len(self.layer_channels)
        self.block_ends = block_end_layers(self.layer_blocks)
        self.fusion_layers = self._parse_fusion_layers(fusion_layers)

        # -------- gate mode and candidate edges
        if gate_mode is None:
            gate_mode = 'fixed' if architecture is not None else 'sigmoid'
        self._check_mode(gate_mode, 'gate_mode')
        if (gate_mode == 'fixed') != (architecture is not None):
            raise ValueError(
                'FusionEdgeNeck: gate_mode="fixed" needs "architecture" '
                'and "architecture" needs gate_mode="fixed" (or None); got '
                f'gate_mode={gate_mode!r}, architecture='
                f'{"given" if architecture is not None else None}')
        self._check_mode(eval_gate_mode, 'eval_gate_mode')
        if eval_gate_mode == 'fixed':
            raise ValueError('FusionEdgeNeck.eval_gate_mode: "fixed" needs '
                             'a built-in architecture; use gate_mode')
        if architecture is not None:
            self.fixed_architecture: Optional[Architecture] = \
                Architecture.build(architecture)
            self.edges = list(self.fixed_architecture.edges)
            where = (f'architecture ({architecture})'
                     if isinstance(architecture, str) else 'architecture')
            self._check_edges(self.edges, where)
        else:
            self.fixed_architecture = None
            rule = ConnectivityRule.build(connectivity)
            if rule.target_layers is None:
                rule = ConnectivityRule(
                    rule.same_block, rule.max_gap, rule.same_layer_only,
                    tuple(self.fusion_layers))
            self.edges = build_candidate_edges(self.tasks, self.layer_blocks,
                                               rule)
            self._check_edges(self.edges, 'connectivity')
        searchable = gate_mode in ('sigmoid', 'relaxed', 'hard') and bool(
            self.edges)
        self.gate_mode = gate_mode
        self.eval_gate_mode = eval_gate_mode if searchable else gate_mode
        self.set_temperature(temperature)
        self.gates = EdgeGates(self.edges, self.tasks, alpha_init, searchable)

        # -------- fusion ops: one per (task, fusion layer)
        fusion = dict(type='nddr', init=(1.0, 0.0)) if fusion is None \
            else copy.deepcopy(dict(fusion))
        self.fusions = nn.ModuleDict()
        #: per target node: candidate edges in slot order
        self._slots: Dict[Node, List[Edge]] = {}
        for t in self.tasks:
            ops = nn.ModuleDict()
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
        self._fixed_plan: Optional[Plan] = None
        if self.fixed_architecture is not None:
            self._fixed_plan = self._plan_from_kept(
                self.fixed_architecture.kept)
        #: diagnostics of the last forward: layer outputs kept as sources
        self.last_retained: Set[Node] = set()

    # ------------------------------------------------------------------
    # configuration checks
    # ------------------------------------------------------------------
    @staticmethod
    def _check_mode(mode: str, key: str) -> None:
        if mode not in GATE_MODES:
            raise ValueError(f'FusionEdgeNeck.{key}: unknown gate mode '
                             f'{mode!r}; choose from {GATE_MODES}')

    def _parse_fusion_layers(self, layers) -> List[int]:
        if layers is None or layers == 'all':
            return list(range(self.num_layers))
        if layers == 'block_ends':
            return list(self.block_ends)
        if isinstance(layers, str):
            raise ValueError('FusionEdgeNeck.fusion_layers: expected None, '
                             f'"all", "block_ends" or a list, got {layers!r}')
        out = sorted({int(i) for i in layers})
        bad = [i for i in out if not 0 <= i < self.num_layers]
        if bad:
            raise ValueError(f'FusionEdgeNeck.fusion_layers: layers {bad} '
                             f'out of range [0, {self.num_layers})')
        return out

    def _check_edges(self, edges: Sequence[Edge], key: str) -> None:
        fusion_layers = set(self.fusion_layers)
        for e in edges:
            for task, layer in ((e.target_task, e.target_layer),
                                (e.source_task, e.source_layer)):
                if task not in self.tasks:
                    raise ValueError(f'FusionEdgeNeck.{key}: edge {e.key} '
                                     f'uses unknown task {task!r} (tasks: '
                                     f'{self.tasks})')
                if not 0 <= layer < self.num_layers:
                    raise ValueError(f'FusionEdgeNeck.{key}: edge {e.key} '
                                     f'uses layer {layer} of '
                                     f'{self.num_layers}')
            if e.target_layer not in fusion_layers:
                raise ValueError(f'FusionEdgeNeck.{key}: edge {e.key} '
                                 f'targets layer {e.target_layer}, which has '
                                 'no fusion op (fusion_layers)')
            if self.layer_channels[e.source_layer] != \
                    self.layer_channels[e.target_layer]:
                raise ValueError(
                    f'FusionEdgeNeck.{key}: edge {e.key} joins '
                    f'{self.layer_channels[e.source_layer]} and '
                    f'{self.layer_channels[e.target_layer]} channels; '
                    'sources must have the target width (use same_block)')

    # ------------------------------------------------------------------
    # gate state
    # ------------------------------------------------------------------
    @property
    def searchable(self) -> bool:
        """Whether the alphas are trained."""
        return self.gates.searchable

    @property
    def active_gate_mode(self) -> str:
        """The gate mode the next forward uses."""
        return self.gate_mode if self.training else self.eval_gate_mode

    def set_gate_mode(self, mode: str) -> None:
        """Set the training gate mode (searchable necks only)."""
        self._check_mode(mode, 'gate_mode')
        if not self.searchable:
            if mode != self.gate_mode:
                raise RuntimeError(
                    f'FusionEdgeNeck: gate mode {self.gate_mode!r} is fixed '
                    f'at build time; cannot switch to {mode!r}')
            return
        if mode == 'fixed':
            raise ValueError('FusionEdgeNeck.set_gate_mode: "fixed" needs an '
                             'architecture at build time')
        self.gate_mode = mode

    def set_temperature(self, temperature: float) -> None:
        """Temperature of the ``relaxed`` gates (must be > 0)."""
        if not temperature > 0:
            raise ValueError('FusionEdgeNeck.temperature must be > 0, got '
                             f'{temperature!r}')
        self.temperature = float(temperature)

    def arch_parameters(self) -> List[nn.Parameter]:
        """The alphas when searchable, else ``[]``."""
        return list(self.gates.alphas.values()) if self.searchable else []

    def gate_probs(self) -> Tensor:
        """Per candidate edge (candidate order): ``sigmoid(alpha)`` when
        searchable; the effective gate (1 or kept 0/1) otherwise."""
        if self.searchable or not self.edges:
            return self.gates.probs()
        kept = self.architecture().kept
        ref = self.gates.logits()
        return ref.new_tensor([float(e in kept) for e in self.edges])

    def entropy(self) -> Tensor:
        """Mean binary entropy of the gates (0 when not searchable)."""
        if not self.searchable:
            return self.gates.logits().new_zeros(())
        return self.gates.entropy()

    def architecture(self) -> Architecture:
        """Current (searchable) or built-in (fixed / ones) architecture."""
        if self.fixed_architecture is not None:
            return self.fixed_architecture
        if not self.searchable:
            return Architecture(self.edges, self.edges, tasks=self.tasks)
        return self.gates.architecture()

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _plan_from_kept(self, kept) -> Plan:
        return {
            node: [(s, e) for s, e in enumerate(edges) if e in kept]
            for node, edges in self._slots.items()
        }

    def _plan(self, mode: str) -> Plan:
        if mode == 'fixed':
            return self._fixed_plan
        if mode == 'hard':
            mask = self.gates.kept_mask()  # one sync per forward
            kept = {e for e, k in zip(self.edges, mask) if k}
            return self._plan_from_kept(kept)
        return self._full_plan

    @staticmethod
    def _last_use(plan: Plan) -> Dict[Node, int]:
        """For every source node read by ``plan``: the last target layer."""
        last: Dict[Node, int] = {}
        for edges in plan.values():
            for _, e in edges:
                node = (e.source_task, e.source_layer)
                last[node] = max(last.get(node, -1), e.target_layer)
        return last

    def forward(self, stems: Mapping[str, Tensor],
                backbones: Mapping[str, nn.Module]) -> Dict[str, List[Tensor]]:
        """Run every task's layers interleaved with the fusion ops.

        Args:
            stems: per task, the output of its backbone's ``forward_stem``.
            backbones: per task, a staged backbone (``forward_layer``).

        Returns:
            dict: per task, the (fused) output of the last layer of every
            block.
        """
        if set(stems) != set(self.tasks) or set(backbones) != set(self.tasks):
            raise KeyError(f'FusionEdgeNeck: expected inputs for tasks '
                           f'{self.tasks}, got stems {sorted(stems)} and '
                           f'backbones {sorted(backbones)}')
        mode = self.active_gate_mode
        plan = self._plan(mode)
        last_use = self._last_use(plan)
        gates = (self.gates.soft_gates(mode, self.temperature)
                 if mode in SOFT_MODES else None)
        block_ends = set(self.block_ends)

        x = dict(stems)
        raw: Dict[Node, Tensor] = {}
        retained: Set[Node] = set()
        outs: Dict[str, List[Tensor]] = {t: [] for t in self.tasks}
        for i in range(self.num_layers):
            cur = {t: backbones[t].forward_layer(i, x[t]) for t in self.tasks}
            for t in self.tasks:
                if (t, i) in last_use:
                    raw[(t, i)] = cur[t]
                    retained.add((t, i))
            for t in self.tasks:
                if (t, i) not in plan:  # no fusion op at this layer
                    x[t] = cur[t]
                    continue
                active = plan[(t, i)]
                sources = [
                    self._align(raw[(e.source_task, e.source_layer)], cur[t])
                    for _, e in active
                ]
                slot_gates = None
                if gates is not None:
                    task_gates = gates[t]
                    slot_gates = [
                        task_gates[self.gates.task_index[e]]
                        for _, e in active
                    ]
                x[t] = self.fusions[t][str(i)](cur[t], sources,
                                               [s for s, _ in active],
                                               slot_gates)
            for node in [n for n, last in last_use.items() if last <= i]:
                raw.pop(node, None)
            if i in block_ends:
                for t in self.tasks:
                    outs[t].append(x[t])
        self.last_retained = retained
        return outs

    @staticmethod
    def _align(src: Tensor, own: Tensor) -> Tensor:
        """Resize a source to the target's spatial size if they differ
        (never within a block)."""
        if src.shape[2:] == own.shape[2:]:
            return src
        return F.interpolate(
            src, size=own.shape[2:], mode='bilinear', align_corners=False)
