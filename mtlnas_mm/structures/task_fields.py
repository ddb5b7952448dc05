"""The one home of every task kind's field names and invalid values.

A multi-task data sample (:class:`mmseg.structures.SegDataSample`) carries
one ground-truth field and one or two prediction fields per task.  Loading
transforms, packing, padding, heads, the network's prediction writer,
metrics, hooks and the visualiser all read the names and invalid values
from :data:`TASK_KINDS`, so a field is named and an invalid value is chosen
in exactly one place.

=========  ======================  ==================  =============================
kind       ground truth (packed)   pipeline key        predictions
=========  ======================  ==================  =============================
``seg``    ``gt_sem_seg``          ``gt_seg_map``      ``seg_logits``, ``pred_sem_seg``
``normal`` ``gt_normal_map``       ``gt_normal_map``   ``pred_normal_map``
``depth``  ``gt_depth_map``        ``gt_depth_map``    ``pred_depth_map``
``label``  ``gt_label``            ``gt_label``        ``pred_score``, ``pred_label``
=========  ======================  ==================  =============================

Invalid values: label 255 (mmseg's ignore index), normal ``(0, 0, 0)``,
depth ``0``.  The second and later task of the same kind write their
predictions with the suffix ``_<task>`` (:func:`prediction_fields`), e.g.
``pred_sem_seg_parts``.
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class TaskKind:
    """Field names and the invalid value of one kind of task.

    Attributes:
        name: the kind (``'seg'``, ``'normal'``, ``'depth'``, ``'label'``).
        gt_field: ground-truth field of the packed data sample.
        results_key: key of the map in the pipeline's ``results`` dict.
        pred_fields: prediction fields written by the network, main first.
        invalid: value of an invalid / padded pixel (``None``: image-level).
        dense: whether the ground truth is a per-pixel map.
        vector: whether the map is a field of image-frame vectors (flips
            negate components, resizes renormalise).
    """

    name: str
    gt_field: str
    results_key: str
    pred_fields: Tuple[str, ...]
    invalid: Optional[float]
    dense: bool = True
    vector: bool = False


#: mmseg's ignore index, the invalid value of label maps
IGNORE_INDEX = 255

TASK_KINDS: Dict[str, TaskKind] = {
    'seg': TaskKind('seg', 'gt_sem_seg', 'gt_seg_map',
                    ('seg_logits', 'pred_sem_seg'), IGNORE_INDEX),
    'normal': TaskKind('normal', 'gt_normal_map', 'gt_normal_map',
                       ('pred_normal_map', ), 0.0, vector=True),
    'depth': TaskKind('depth', 'gt_depth_map', 'gt_depth_map',
                      ('pred_depth_map', ), 0.0),
    'label': TaskKind('label', 'gt_label', 'gt_label',
                      ('pred_score', 'pred_label'), None, dense=False),
}


def task_kind(name: str) -> TaskKind:
    """The :class:`TaskKind` called ``name``; a clear error otherwise."""
    if name not in TASK_KINDS:
        raise KeyError(f'unknown task kind {name!r}; known kinds: '
                       f'{sorted(TASK_KINDS)}')
    return TASK_KINDS[name]


def invalid_values() -> Dict[str, float]:
    """``{packed gt field: invalid value}`` of every dense kind (padding)."""
    return {k.gt_field: k.invalid for k in TASK_KINDS.values() if k.dense}


def results_invalid_values() -> Dict[str, float]:
    """``{pipeline results key: invalid value}`` of every dense kind."""
    return {k.results_key: k.invalid for k in TASK_KINDS.values() if k.dense}


def prediction_fields(kind: str, task: str, first: bool) -> Tuple[str, ...]:
    """Prediction field names of ``task``: the kind's names for the first
    task of that kind, suffixed with ``_<task>`` for every later one."""
    names = task_kind(kind).pred_fields
    return names if first else tuple(f'{n}_{task}' for n in names)


def check_task_name(name: Any, where: str = 'tasks') -> str:
    """Return ``name`` if it is usable as a task name, else raise.

    Task names appear in edge keys (``'seg.3->normal.4'``) and as
    ``nn.ModuleDict`` keys, so they must be non-empty strings without ``'.'``
    and without ``'->'``.
    """
    if not isinstance(name, str) or not name or '.' in name or '->' in name \
            or name.strip() != name:
        raise ValueError(
            f'{where}: invalid task name {name!r}; task names must be '
            "non-empty strings without '.', '->' or surrounding spaces")
    return name
