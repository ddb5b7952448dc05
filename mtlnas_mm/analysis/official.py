"""The official MTL-NAS implementation (bhpfelix/MTLNAS) on a checkout the
user provides, timed beside the project (``benchmark.py --official-root``).

The checkout ``DIR`` (``--official-root DIR``) is imported through
``sys.path`` (:func:`import_official`); nothing of it is copied into this
project.  The benchmark calls:
``core/config/defaults.py`` (``core.config.cfg``, merged with its default
NYUv2 search config ``configs/ablation/vgg_nyuv2_default.yaml``, with
``TRAIN.WEIGHT_1/2 = ''``: random initialisation, the released weights are
not needed for timing), ``core.tasks.get_tasks`` and
``core.models.get_model`` (``GeneralizedMTLNASNet`` of
``core/models/supernet.py`` over two ``DeepLabLargeFOVBN16`` columns with
``SingleSidedAsymmetricNDDR`` fusion; for the single-task pair the same
config with ``ARCH.SEARCHSPACE = ''`` and ``MODEL.SINGLETASK = True``:
``SingleTaskNet`` of ``core/models/nddr_net.py``) and the models'
``loss``, ``arch_train``, ``arch_eval``, ``step``, ``arch_parameters``,
``named_net_parameters``.  Its training loop lives inside ``main()`` of
``tools/train_nas.py`` (``tools/train.py`` for the single pair), so the
benchmark repeats what that loop does per iteration: the same parameter
groups (fc8 weights x10 / biases x20, fusion ops x100 of ``TRAIN.LR``),
``SGD(momentum, weight_decay)`` with the poly ``LambdaLR`` stepped every
iteration, ``Adam(arch_parameters, ARCH.LR, betas=(0.5, 0.999),
ARCH.WEIGHT_DECAY)`` (its scheduler is not stepped under Adam); per
iteration ``arch_train(); arch_optimizer.zero_grad(); loss(...).backward()
; arch_optimizer.step(); arch_eval()`` (the architecture step: its backward
reaches every parameter, as the official code does), then
``optimizer.zero_grad(); loss(...).backward(); optimizer.step();
model.step(); scheduler.step()`` (the weight step), inputs moved to the
device inside the timed call as its loop does.  Its inputs are the same
batch as the project's: images normalised with the project's mean / std,
labels ``(N, 1, H, W)`` and normals ``(N, 3, H, W)``.  Written for torch
1.4, the code imports and runs unchanged on torch 2.x (no shim); one
behavioural difference of the newer torch is that ``zero_grad()`` now sets
gradients to ``None`` instead of zeroing them in place.  It needs ``yacs``
(its ``requirements.txt``); a checkout that cannot be imported or built
stops the tool with the reason.  The official network is always the
full-width VGG-16 LargeFOV pair: the comparison is like for like with
``--backbone vgg16`` only (with ``vgg-tiny`` the official targets are not
judged).
"""
import contextlib
import importlib
import os
import sys
from types import SimpleNamespace
from typing import Callable, List, Sequence

import torch

from ..structures import ARCH_STEP, WEIGHT_STEP
from .timing import Case, PhaseClock, count_params, state_bytes

#: the official default NYUv2 search config, inside an MTL-NAS checkout
OFFICIAL_SEARCH_CONFIG = 'configs/ablation/vgg_nyuv2_default.yaml'
#: files whose presence makes a directory an MTL-NAS checkout
OFFICIAL_FILES = ('core/models/supernet.py', 'core/config/defaults.py',
                  OFFICIAL_SEARCH_CONFIG)
#: the backbone the official network is (like-for-like comparison)
OFFICIAL_BACKBONE = 'vgg16'


def import_official(root: str) -> SimpleNamespace:
    """Import the official code from the checkout ``root`` (through
    ``sys.path``); a clear ``SystemExit`` if that is impossible."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise SystemExit(f'--official-root {root}: no such directory')
    missing = [f for f in OFFICIAL_FILES
               if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise SystemExit(
            f'--official-root {root}: not a checkout of the official MTL-NAS '
            f'code (bhpfelix/MTLNAS): missing {missing}')
    loaded = sys.modules.get('core')
    if loaded is not None:
        where = os.path.dirname(os.path.abspath(
            getattr(loaded, '__file__', None) or '.'))
        if os.path.dirname(where) != root:
            raise SystemExit(
                f'--official-root {root}: a different module named "core" '
                f'is already imported ({where}); the official code is a '
                'top-level package "core": run the benchmark in a fresh '
                'process')
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            config = importlib.import_module('core.config')
            models = importlib.import_module('core.models')
            tasks = importlib.import_module('core.tasks')
    except ModuleNotFoundError as e:
        raise SystemExit(
            f'--official-root {root}: the official code imports "{e.name}", '
            f'which is not installed here (its requirements.txt lists it; '
            f'e.g. pip install {e.name})') from e
    except Exception as e:  # noqa: BLE001 (any failure: say why)
        raise SystemExit(
            f'--official-root {root}: importing the official code failed on '
            f'torch {torch.__version__} (it was written for torch 1.4): '
            f'{type(e).__name__}: {e}') from e
    return SimpleNamespace(root=root, cfg=config.cfg,
                           get_model=models.get_model,
                           get_tasks=tasks.get_tasks)


def official_config(off: SimpleNamespace, single: bool = False):
    """The official default NYUv2 search config (random init); with
    ``single`` its single-task pair (same columns, no search space)."""
    c = off.cfg.clone()
    c.merge_from_file(os.path.join(off.root, OFFICIAL_SEARCH_CONFIG))
    c.TRAIN.WEIGHT_1 = ''
    c.TRAIN.WEIGHT_2 = ''
    if single:
        c.ARCH.SEARCHSPACE = ''
        c.MODEL.SINGLETASK = True
    c.freeze()
    return c


def official_optimizers(model: torch.nn.Module, c,
                        search: bool) -> tuple:
    """The official optimizers (``tools/train_nas.py`` / ``tools/train.py``:
    parameter groups by name, SGD with the poly LambdaLR; for the search
    also the architecture optimizer, Adam unless ``ARCH.OPTIMIZER`` is
    ``'sgd'``)."""
    named = model.named_net_parameters() if search else \
        model.named_parameters()
    base, fc8_w, fc8_b, fusion = [], [], [], []
    fc_id = model.net1.fc_id
    for name, p in named:
        if 'paths' in name or 'nddrs' in name:
            fusion.append(p)
        elif fc_id in name:
            (fc8_w if 'weight' in name else fc8_b).append(p)
        else:
            base.append(p)
    lr = c.TRAIN.LR
    groups = [dict(params=base),
              dict(params=fc8_w, lr=lr * c.TRAIN.FC8_WEIGHT_FACTOR),
              dict(params=fc8_b, lr=lr * c.TRAIN.FC8_BIAS_FACTOR),
              dict(params=fusion, lr=lr * c.TRAIN.NDDR_FACTOR)]
    optimizer = torch.optim.SGD([g for g in groups if g['params']], lr=lr,
                                momentum=c.TRAIN.MOMENTUM,
                                weight_decay=c.TRAIN.WEIGHT_DECAY)
    steps, power = c.TRAIN.STEPS, c.TRAIN.POWER
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (1 - float(step) / steps)**power)
    arch_optimizer = None
    if search:
        if c.ARCH.OPTIMIZER == 'sgd':
            arch_optimizer = torch.optim.SGD(
                model.arch_parameters(), lr=c.ARCH.LR,
                momentum=c.TRAIN.MOMENTUM, weight_decay=c.ARCH.WEIGHT_DECAY)
        else:
            arch_optimizer = torch.optim.Adam(
                model.arch_parameters(), lr=c.ARCH.LR, betas=(0.5, 0.999),
                weight_decay=c.ARCH.WEIGHT_DECAY)
    return optimizer, scheduler, arch_optimizer


def official_batch(batch: dict, mean: Sequence[float],
                   std: Sequence[float]) -> tuple:
    """The project's batch as the official loader yields it: float images
    (normalised), labels ``(N, 1, H, W)``, normals ``(N, 3, H, W)``."""
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    images = torch.stack([(img.float() - mean) / std
                          for img in batch['inputs']])
    seg = torch.stack([s.gt_sem_seg.data for s in batch['data_samples']])
    normal = torch.stack(
        [s.gt_normal_map.data for s in batch['data_samples']])
    return images, seg.long(), normal.float()


def build_official_cases(off: SimpleNamespace, batch: dict,
                         mean: Sequence[float], std: Sequence[float],
                         device: torch.device,
                         wanted: Callable[[str, str], bool]) -> List[Case]:
    """The official search iteration (split into its steps) and the
    official single-task-pair training step (those ``wanted(kind, name)``
    selects) on ``batch`` normalised with ``mean`` / ``std``."""
    images, seg, normal = official_batch(batch, mean, std)
    n = images.shape[0]

    def inputs():
        # the official loop moves every batch to the device itself
        return images.to(device), (seg.to(device), normal.to(device))

    cases = []
    for single in (False, True):
        name = 'single' if single else 'search_iter'
        if not wanted('official', name):
            continue
        c = official_config(off, single)
        torch.manual_seed(0)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                task1, task2 = off.get_tasks(c)
                model = off.get_model(c, task1, task2).to(device)
        except Exception as e:  # noqa: BLE001 (any failure: say why)
            raise SystemExit(
                f'--official-root {off.root}: building the official '
                f'{name} model failed: {type(e).__name__}: {e}') from e
        model.train()
        optimizer, scheduler, arch_optimizer = official_optimizers(
            model, c, search=not single)
        info = dict(config=OFFICIAL_SEARCH_CONFIG + (
            ' + ARCH.SEARCHSPACE="" MODEL.SINGLETASK=True' if single else ''),
            model=type(model).__name__, params=count_params(model),
            root=off.root)
        optimizers = [optimizer] + ([arch_optimizer] if arch_optimizer
                                    else [])
        if single:
            def fn(model=model, optimizer=optimizer, scheduler=scheduler):
                x, labels = inputs()
                optimizer.zero_grad()
                result = model.loss(x, labels)
                result.loss.backward()
                optimizer.step()
                model.step()
                scheduler.step()
            clock = None
        else:
            clock = PhaseClock(device)
            info.update(
                edges=int(model.net1_connectivity_matrix.sum()
                          + model.net2_connectivity_matrix.sum()),
                arch_optimizer=type(arch_optimizer).__name__,
                weight_step_gates='gumbel' if c.ARCH.HARD_WEIGHT_TRAINING
                else 'sigmoid',
                arch_step_gates='gumbel' if c.ARCH.HARD_ARCH_TRAINING
                else 'sigmoid')

            def fn(model=model, optimizer=optimizer, scheduler=scheduler,
                   arch_optimizer=arch_optimizer, clock=clock):
                clock.mark(ARCH_STEP)
                x, labels = inputs()
                model.arch_train()
                arch_optimizer.zero_grad()
                model.loss(x, labels).loss.backward()
                arch_optimizer.step()
                model.arch_eval()
                clock.mark(WEIGHT_STEP)
                x, labels = inputs()
                optimizer.zero_grad()
                model.loss(x, labels).loss.backward()
                optimizer.step()
                model.step()
                scheduler.step()
                clock.mark(None)

        def base(model=model, optimizers=optimizers):
            return state_bytes(model, optimizers)
        cases.append(Case(name, 'official', fn, base, info, clock, n))
    return cases
