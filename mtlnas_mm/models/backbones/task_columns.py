"""One backbone ("column") per task, optionally joined by cross-task edges."""
import copy
from typing import Dict, Optional, Sequence, Tuple

from mmengine.model import BaseModule, ModuleDict
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import check_task_name
from .staged import StagedBackboneMixin, run_staged


@MODELS.register_module()
class TaskColumns(BaseModule):
    """Per-task backbones, run side by side, returning ``{task: features}``.

    The multi-task counterpart of an mmseg backbone: its output feeds the
    task heads of :class:`MultiTaskNetwork`.  Without ``edges`` the columns
    are independent (the single-task baseline; any mmseg backbone works).
    With ``edges`` (a search space such as :class:`FusionEdges`) the
    columns must be staged backbones of identical layout, run layer by
    layer by :func:`run_staged` with the edges fusing after every layer
    (MTL-NAS, NDDR-CNN, cross-stitch, the all-edges supernet).

    ``tasks`` is filled in by :class:`MultiTaskNetwork` from its task
    dict.

    Args:
        tasks: task names, in order.
        backbone: backbone config; one instance per task, built in task
            order.
        edges: optional cross-task edge config (``layer_channels``,
            ``layer_blocks`` and ``tasks`` are filled in from the columns).
        overrides: optional ``{task: dict}`` updating (or, with ``type``,
            replacing) the backbone config of single tasks.
        init_cfg: mmengine init config.
    """

    #: :class:`MultiTaskNetwork` fills in ``tasks``
    takes_tasks = True

    def __init__(self,
                 tasks: Sequence[str],
                 backbone: dict,
                 edges: Optional[dict] = None,
                 overrides: Optional[Dict[str, dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks = [check_task_name(t, 'TaskColumns.tasks') for t in tasks]
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.tasks))
        if unknown:
            raise KeyError(f'TaskColumns.overrides: unknown task(s) '
                           f'{unknown}; tasks: {self.tasks}')
        self.columns = ModuleDict({
            t: MODELS.build(self._column_cfg(backbone, overrides.get(t)))
            for t in self.tasks
        })
        self.edges = None
        if edges is not None:
            channels, blocks = self._common_layout()
            self.edges = MODELS.build(
                dict(edges),
                default_args=dict(
                    tasks=list(self.tasks),
                    layer_channels=channels,
                    layer_blocks=blocks))

    def task_column_prefix(self, task: str) -> str:
        """Where ``task``'s column lives in this module's state dict (the
        target of ``MultiTaskNetwork(init_from=...)``)."""
        return f'columns.{task}.'

    @staticmethod
    def _column_cfg(default: dict, override: Optional[dict]) -> dict:
        cfg = copy.deepcopy(dict(default))
        if override:
            override = copy.deepcopy(dict(override))
            cfg = override if 'type' in override else {**cfg, **override}
        return cfg

    def _common_layout(self) -> Tuple[list, list]:
        """The layer layout all columns share (cross-task edges need it)."""
        layouts = {}
        for t, col in self.columns.items():
            if not isinstance(col, StagedBackboneMixin):
                raise TypeError(
                    f'TaskColumns: the backbone of task {t!r} '
                    f'({type(col).__name__}) does not run layer by layer; '
                    'cross-task edges need a staged backbone (VGGLargeFOV, '
                    'StagedResNet)')
            layouts[t] = (list(col.layer_channels), list(col.layer_blocks))
        first = self.tasks[0]
        for t, layout in layouts.items():
            if layout != layouts[first]:
                raise ValueError(
                    'TaskColumns: cross-task edges need columns with the '
                    f'same layers; {first!r} has channels/blocks '
                    f'{layouts[first]}, {t!r} has {layout}')
        return layouts[first]

    def forward(self, inputs: Tensor) -> Dict[str, Tuple[Tensor, ...]]:
        """Per task, the multi-level features its head consumes."""
        if self.edges is None:
            return {t: tuple(col(inputs)) for t, col in self.columns.items()}
        ends = run_staged(inputs, self.columns, self.edges.fuser())
        return {
            t: col.select_outputs(ends[t])
            for t, col in self.columns.items()
        }
