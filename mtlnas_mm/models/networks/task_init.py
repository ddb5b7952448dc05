"""Initialise the columns and heads of a multi-task network from trained
single-task checkpoints (the MTL-NAS protocol: the search starts from
single-task networks already trained on their tasks)."""
from typing import Dict, Mapping, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

#: prefixes a network / algorithm checkpoint may carry before its keys
_OWNER_PREFIXES = ('', 'network.')


#: where a single-task network (``TaskColumns``) keeps a task's column and
#: head: the checkpoint side of every ``init_from``
SOURCE_COLUMN = 'backbone.columns.{task}.'
SOURCE_HEAD = 'heads.{task}.'


def _task_prefixes(network: nn.Module, task: str) -> Tuple[str, str]:
    """This network's key prefixes of ``task``'s column and head: the
    backbone says where a task's column lives (``task_column_prefix``:
    ``TaskColumns`` one column per task, ``ShareRoutes`` with one
    sub-network copy per task)."""
    backbone = network.backbone
    prefix = getattr(backbone, 'task_column_prefix', None)
    if prefix is None:
        raise TypeError('init_from needs a backbone with one column per '
                        'task (TaskColumns, or ShareRoutes with K = number '
                        f'of tasks); got a shared {type(backbone).__name__}')
    return f'backbone.{prefix(task)}', SOURCE_HEAD.format(task=task)


def _source_prefixes(task: str) -> Tuple[str, str]:
    """The checkpoint's key prefixes of ``task``'s column and head."""
    return SOURCE_COLUMN.format(task=task), SOURCE_HEAD.format(task=task)


def _source_state(path: str) -> Dict[str, torch.Tensor]:
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, Mapping) \
        else None
    if not isinstance(state, Mapping):
        raise ValueError(f'{path}: not a checkpoint with a state_dict')
    return dict(state)


def _find_prefix(state: Mapping[str, torch.Tensor], path: str, task: str,
                 own: str) -> str:
    """The prefix under which ``state`` holds ``own`` (``backbone.columns.
    <task>.`` or ``heads.<task>.``), with or without an algorithm's
    ``network.``."""
    for owner in _OWNER_PREFIXES:
        prefix = owner + own
        if any(k.startswith(prefix) for k in state):
            return prefix
    tasks = set()
    for key in state:
        for owner in _OWNER_PREFIXES:
            for own_kind in (SOURCE_COLUMN.split('{')[0],
                             SOURCE_HEAD.split('{')[0]):
                head = owner + own_kind
                if key.startswith(head) and '.' in key[len(head):]:
                    tasks.add(key[len(head):].split('.')[0])
    tasks = sorted(tasks)
    raise KeyError(f'{path}: no {own}* keys for task {task!r}; the '
                   f'checkpoint has tasks {tasks} (set init_from.<task>.task '
                   'to the task name used when it was trained)')


def load_task_checkpoints(network: nn.Module,
                          init_from: Mapping[str, Mapping]) -> None:
    """Copy each task's column and head from its single-task checkpoint.

    Args:
        network: a :class:`MultiTaskNetwork` whose backbone has one
            column per task (``task_column_prefix``: :class:`TaskColumns`;
            :class:`ShareRoutes` with K = number of tasks, task ``i``
            loading into sub-network copy ``i``).
        init_from: ``{task: dict(checkpoint=PATH, task=SOURCE_TASK,
            with_head=True)}``; ``task`` (default: the same name) is the
            task's name in the checkpoint, which may be a single-task
            network of one or more tasks, or a search / NAS algorithm
            checkpoint.  ``with_head=False`` copies the column only and
            leaves the head at its initialisation (an ImageNet backbone
            converted by
            ``tools/model_converters/mmpretrain_vgg_to_largefov.py``).

    Every parameter and buffer of the task's column (and head, unless
    ``with_head=False``) must be in the checkpoint with the same shape, and
    every checkpoint key under the source task's column (head) must exist
    here; otherwise an error names the checkpoint and the key.  Everything
    else (fusion ops, gates, other tasks) keeps its initialisation.
    """
    own_state = network.state_dict()
    unknown = sorted(set(init_from) - set(network.task_names))
    if unknown:
        raise KeyError(f'init_from: unknown task(s) {unknown}; tasks: '
                       f'{network.task_names}')
    for task, spec in init_from.items():
        if isinstance(spec, str):
            spec = dict(checkpoint=spec)
        spec = dict(spec)
        path = spec.pop('checkpoint', None)
        source_task = spec.pop('task', task)
        with_head = spec.pop('with_head', True)
        if path is None or spec:
            raise KeyError(f'init_from.{task}: expected dict(checkpoint=..., '
                           'task=<optional>, with_head=<optional>), got '
                           f'extra keys {sorted(spec)}')
        if not isinstance(with_head, bool):
            raise TypeError(f'init_from.{task}.with_head must be a bool, got '
                            f'{with_head!r}')
        state = _source_state(path)
        loaded: Dict[str, int] = {}
        parts = list(zip(_task_prefixes(network, task),
                         _source_prefixes(source_task)))
        for target, source_own in parts[:2 if with_head else 1]:
            source = _find_prefix(state, path, source_task, source_own)
            targets = {k[len(target):]: k for k in own_state
                       if k.startswith(target)}
            sources = {k[len(source):]: k for k in state
                       if k.startswith(source)}
            missing = sorted(set(targets) - set(sources))
            extra = sorted(set(sources) - set(targets))
            if missing:
                raise KeyError(f'{path}: no key {source + missing[0]!r} for '
                               f'{targets[missing[0]]!r} of task {task!r} '
                               f'({len(missing)} missing)')
            if extra:
                raise KeyError(f'{path}: key {sources[extra[0]]!r} maps to '
                               f'nothing of task {task!r} (no '
                               f'{target + extra[0]!r}; {len(extra)} such '
                               'keys)')
            for rest, key in targets.items():
                value = state[sources[rest]]
                if value.shape != own_state[key].shape:
                    raise ValueError(
                        f'{path}: key {sources[rest]!r} has shape '
                        f'{tuple(value.shape)}, {key!r} has '
                        f'{tuple(own_state[key].shape)}')
                own_state[key].copy_(value)
            loaded[target] = len(targets)
        print_log(
            f'init_from: task {task!r} <- {path} (task {source_task!r}): ' +
            ', '.join(f'{n} tensors of {p}*' for p, n in loaded.items()) +
            ('' if with_head else
             f' (with_head=False: heads.{task}.* keeps its initialisation)'),
            logger='current')
