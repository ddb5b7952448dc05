"""Small helpers of the models: the non-finite loss check, the refusal
of checkpoints written before the network / algorithm split, and the
filling in of a per-task backbone's tasks."""
import copy
from typing import List, Mapping, Sequence, Union

import torch
from mmengine.logging import MessageHub

from mmseg.registry import MODELS


def _current_iter() -> Union[int, str]:
    try:
        return MessageHub.get_current_instance().get_info('iter', '?')
    except Exception:  # no message hub outside a runner
        return '?'


def check_finite(loss: torch.Tensor, losses: Mapping[str, torch.Tensor],
                 phase: str = 'training') -> None:
    """Raise ``FloatingPointError`` naming the iteration, phase and terms.

    Called on every parsed loss before its backward, so a NaN / inf stops
    the run before any optimizer applies it.
    """
    if bool(torch.isfinite(loss)):
        return
    bad = []
    for name, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if torch.is_tensor(v) and not bool(torch.isfinite(v).all()):
                bad.append(f'{name}={v.detach().float().mean().item()}')
                break
    raise FloatingPointError(
        f'non-finite loss at iteration {_current_iter()} in the {phase} '
        f'step: {", ".join(bad) or f"total={loss.item()}"}. The run is '
        'stopped before the optimizer applies it (the gates and weights '
        'of the last checkpoint are intact); lower the learning rate or '
        'check the data of this task.')


#: parameter-name prefixes of checkpoints written before the redesign
#: (one ``MultiTaskSupernet`` with ``backbones.<task>`` and ``neck``)
LEGACY_PREFIXES = ('backbones.', 'neck.')


def refuse_legacy_state_dict(state_dict: Mapping, prefix: str) -> None:
    """Raise if ``state_dict`` is a pre-redesign ``MultiTaskSupernet``
    checkpoint (its keys map onto nothing of the new modules)."""
    legacy = [k for k in state_dict
              if k.startswith(tuple(prefix + p for p in LEGACY_PREFIXES))]
    if legacy:
        raise RuntimeError(
            f'this checkpoint predates the network / algorithm redesign '
            f'(keys such as {legacy[0]!r}; mtlnas_mm < 0.2): its parameter '
            'names no longer exist. Retrain, or re-run the search, with '
            'this version.')


def fill_backbone_tasks(backbone: Mapping, task_names: Sequence[str],
                        owner: str) -> dict:
    """A copy of the ``backbone`` config with ``tasks`` filled in.

    A per-task backbone (its class has ``takes_tasks = True``:
    :class:`TaskColumns`, :class:`CellMultiTaskBackbone`,
    :class:`ShareRoutes`) gets the model's task names; a ``tasks`` given
    in the config must be the same list.  Other backbones are unchanged.

    Args:
        backbone: the backbone config (``type``: a registry name or class).
        task_names: the model's tasks, in order.
        owner: the model's name in error messages.
    """
    backbone = copy.deepcopy(dict(backbone))
    kind = backbone.get('type')
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if not (isinstance(cls, type) and getattr(cls, 'takes_tasks', False)):
        return backbone
    names: List[str] = list(task_names)
    backbone.setdefault('tasks', names)
    if list(backbone['tasks']) != names:
        raise ValueError(f'{owner}.backbone.tasks {backbone["tasks"]} '
                         f'disagrees with the tasks {names}; leave it '
                         'out, it is filled in')
    return backbone
