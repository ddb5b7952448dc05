"""Convert an mmpretrain VGG-BN ImageNet checkpoint into the task columns of
the project's DeepLab-LargeFOV VGG (``VGGLargeFOV``).

The source is a checkpoint of mmpretrain's ``ImageClassifier`` with
``backbone=dict(type='VGG', depth=16, norm_cfg=dict(type='BN'))`` (e.g. the
model zoo's ``vgg16_bn``), or a bare state dict of one.  It is read with
``torch.load(..., weights_only=True)``: the file cannot run code.

Key map.  ``VGGLargeFOV`` stores its modules with the indices of mmpretrain's
``VGG`` (``features.<k>.conv`` / ``features.<k>.bn``; the pools, which have no
parameters, keep mmpretrain's indices), so the 13 conv + BN layers of
VGG-16 map one to one, in order, for every task column::

    backbone.features.<k>.{conv,bn}.*
        -> backbone.columns.<task>.features.<k>.{conv,bn}.*

with ``k`` in ``0 1 | 3 4 | 6 7 8 | 10 11 12 | 14 15 16``.  The ImageNet
classifier (mmpretrain's ``backbone.classifier.*``: fc6-fc8 on a 7x7 grid,
and any ``neck.*`` / ``head.*`` parameters) is dropped: LargeFOV's fc6 / fc7
(dilated 3x3 / 1x1 convs) and the task heads are new and keep their
initialisation.

Checks.  Every parameter and buffer of ``VGGLargeFOV(depth=...)`` (conv
weight and bias, BN weight, bias, running mean and variance, and
``num_batches_tracked``) must be in the source with the same shape, and
every ``backbone.*`` key of the source must map onto one; otherwise the
conversion fails with an error naming the file and the key.  Only
``num_batches_tracked`` may be absent (checkpoints of old PyTorch versions):
it is written as 0 and reported.

BN epsilon.  mmpretrain's VGG BN uses ``eps=1e-5``, the project's MTL-NAS
VGG-16 ``eps=1e-3`` (``configs/_base_/models/vgg16_largefov_seg_normal.py``).
Only the affine parameters and running statistics are copied: the
converted layers normalise by ``sqrt(var + 1e-3)`` instead of
``sqrt(var + 1e-5)``, a small change of scale for channels of small
variance that fine-tuning absorbs.

Loading.  The output holds only column keys, so load it with the project's
``init_from`` and ``with_head=False``: the columns are loaded strictly (a
missing or extra key or a shape mismatch is an error naming the file and
the key), the heads keep their initialisation, and the log says what was
loaded per task::

    python tools/model_converters/mmpretrain_vgg_to_largefov.py \\
        vgg16_bn_imagenet.pth work_dirs/vgg16bn_largefov.pth --tasks seg normal
    python tools/train.py configs/baselines/single-task_vgg16_nyuv2.py \\
        --work-dir work_dirs/st_imagenet --cfg-options \\
        model.init_from.seg.checkpoint=work_dirs/vgg16bn_largefov.pth \\
        model.init_from.seg.with_head=False \\
        model.init_from.normal.checkpoint=work_dirs/vgg16bn_largefov.pth \\
        model.init_from.normal.with_head=False

(``load_from=OUT`` also works, but mmengine loads it non-strictly: missing
keys are only logged.)
"""
import argparse
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from mtlnas_mm.models.backbones import VGGLargeFOV
from mtlnas_mm.structures import check_task_name
from mtlnas_mm.utils import claim_output_file

#: prefix of the backbone in an mmpretrain ``ImageClassifier`` state dict
SOURCE_PREFIX = 'backbone.'
#: ImageNet classifier keys: not converted (LargeFOV's fc6 / fc7 are new)
DROPPED_PREFIXES = ('backbone.classifier.', 'neck.', 'head.')
#: optional BN buffer (absent from checkpoints of PyTorch < 0.4.1)
OPTIONAL_SUFFIX = 'num_batches_tracked'


def load_source_state(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of an mmpretrain checkpoint, read with
    ``weights_only=True``.

    Args:
        path: checkpoint file: ``{'state_dict': ..., 'meta': ...}`` or a
            bare state dict.

    Returns:
        The tensors of its state dict, by key.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise ValueError(f'{path}: cannot be read with weights_only=True '
                         f'({type(err).__name__}: {err})') from err
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, Mapping) \
        else None
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f'{path}: not a checkpoint with a state_dict')
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'{path}: key {bad[0]!r} is not a tensor')
    return dict(state)


def target_state(depth: int = 16) -> Dict[str, torch.Tensor]:
    """The parameters and buffers of one ``VGGLargeFOV`` column, in order
    (mmpretrain VGG layout: 64 base channels, conv bias, BN)."""
    return VGGLargeFOV(depth=depth).state_dict()


def convert_state(state: Mapping[str, torch.Tensor],
                  path: str,
                  tasks: Sequence[str],
                  depth: int = 16
                  ) -> Tuple['OrderedDict[str, torch.Tensor]', List[str],
                             List[str]]:
    """Map an mmpretrain VGG-BN state dict onto ``VGGLargeFOV`` columns.

    Args:
        state: the source state dict (keys ``backbone.features.*`` ...).
        path: the source file, for error messages.
        tasks: task columns to write (``backbone.columns.<task>.*``).
        depth: VGG depth (11, 13, 16 or 19; 16 for MTL-NAS).

    Returns:
        The converted state dict (per task, in ``VGGLargeFOV`` order), the
        dropped source keys (classifier) and the optional buffers that
        were absent and written with their default.
    """
    if not tasks:
        raise ValueError('convert_state: no tasks given')
    tasks = [check_task_name(t, '--tasks') for t in tasks]
    if len(set(tasks)) != len(tasks):
        raise ValueError(f'--tasks: repeated task names in {tasks}')
    reference = target_state(depth)
    dropped = sorted(k for k in state if k.startswith(DROPPED_PREFIXES))
    column: Dict[str, torch.Tensor] = OrderedDict()
    defaulted: List[str] = []
    for key, default in reference.items():
        source_key = SOURCE_PREFIX + key
        if source_key not in state:
            if key.endswith(OPTIONAL_SUFFIX):
                column[key] = default.clone()
                defaulted.append(source_key)
                continue
            raise KeyError(f'{path}: no key {source_key!r} (VGG-{depth}-BN '
                           f'layer {key!r} of VGGLargeFOV)')
        value = state[source_key]
        if value.shape != default.shape:
            raise ValueError(
                f'{path}: key {source_key!r} has shape {tuple(value.shape)}, '
                f'VGGLargeFOV(depth={depth}) {key!r} has '
                f'{tuple(default.shape)}')
        column[key] = value
    for key in state:
        if key in dropped:
            continue
        if not key.startswith(SOURCE_PREFIX):
            raise KeyError(f'{path}: key {key!r} is neither mmpretrain VGG '
                           f'backbone ({SOURCE_PREFIX}*) nor classifier '
                           f'({", ".join(p + "*" for p in DROPPED_PREFIXES)})')
        if key[len(SOURCE_PREFIX):] not in reference:
            raise KeyError(f'{path}: key {key!r} maps to nothing of '
                           f'VGGLargeFOV(depth={depth}) (no '
                           f'{key[len(SOURCE_PREFIX):]!r})')
    out: Dict[str, torch.Tensor] = OrderedDict()
    for task in tasks:
        for key, value in column.items():
            out[f'backbone.columns.{task}.{key}'] = value.clone()
    return out, dropped, defaulted


def convert_checkpoint(src: str,
                       dst: str,
                       tasks: Sequence[str] = ('seg', 'normal'),
                       depth: int = 16,
                       overwrite: bool = False) -> Dict[str, int]:
    """Convert the checkpoint ``src`` and write it to ``dst``.

    Args:
        src: mmpretrain VGG-BN checkpoint.
        dst: output checkpoint (``{'state_dict': ..., 'meta': ...}``).
        tasks: task columns to write.
        depth: VGG depth.
        overwrite: replace an existing ``dst`` (refused otherwise).

    Returns:
        ``{'converted': tensors per column, 'dropped': classifier keys
        dropped, 'defaulted': absent optional buffers}``.
    """
    if osp.abspath(src) == osp.abspath(dst):
        raise ValueError(f'{dst}: the output would overwrite the input')
    claim_output_file(dst, 'mmpretrain_vgg_to_largefov.py', overwrite,
                      'output checkpoint')
    state = load_source_state(src)
    out, dropped, defaulted = convert_state(state, src, tasks, depth)
    meta = dict(
        converted_from=osp.abspath(src),
        converter='tools/model_converters/mmpretrain_vgg_to_largefov.py',
        tasks=list(tasks),
        depth=depth,
        dropped_keys=dropped,
        defaulted_keys=defaulted)
    torch.save(dict(state_dict=out, meta=meta), dst)
    return dict(
        converted=len(out) // len(tasks),
        dropped=len(dropped),
        defaulted=len(defaulted))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description='Convert an mmpretrain VGG-BN checkpoint into '
        'VGGLargeFOV task columns (load with init_from ... with_head=False)')
    p.add_argument('src', help='mmpretrain VGG-BN checkpoint')
    p.add_argument('dst', help='output checkpoint')
    p.add_argument(
        '--tasks',
        nargs='+',
        default=['seg', 'normal'],
        help='task columns to write (backbone.columns.<task>.*)')
    p.add_argument(
        '--depth',
        type=int,
        default=16,
        choices=sorted(VGGLargeFOV.arch_settings),
        help='VGG depth (16 for MTL-NAS)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing output checkpoint')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Convert and report what was converted."""
    args = parse_args(argv)
    report = convert_checkpoint(args.src, args.dst, args.tasks, args.depth,
                                args.overwrite)
    print(f'{args.src} -> {args.dst}: {report["converted"]} tensors '
          f'(VGG-{args.depth}-BN conv + BN) per task column, tasks '
          f'{args.tasks}; dropped {report["dropped"]} classifier keys; '
          f'{report["defaulted"]} absent num_batches_tracked set to 0')


if __name__ == '__main__':
    main()
