"""Helpers for the tests that run configs through mmengine's Runner or
the command-line tools."""
import importlib.util
import os.path as osp
import time
from types import ModuleType
from typing import Any, Optional, Sequence

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader

from mtlnas_mm.utils import set_max_iters

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SEARCH = 'configs/mtlnas/mtlnas_vgg-tiny_synthetic.py'
CROP = (32, 32)


def load_tool(path: str) -> ModuleType:
    """Import a command-line tool, e.g. ``'tools/train.py'``, as a module
    (its ``main(argv)`` runs it in-process)."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate_data(root: str, num_train: int = 16, num_test: int = 4) -> str:
    from mtlnas_mm.datasets.synthetic import generate_dataset
    generate_dataset(root, num_train=num_train, num_test=num_test,
                     height=48, width=64, seed=11, layout='nddr', workers=1)
    return root


def _shrink_pipeline(pipeline: list) -> None:
    for t in pipeline:
        if t['type'] == 'RandomResize':
            t['scale'] = (64, 48)
        elif t['type'] == 'MultiTaskPad':
            t['size'] = CROP
        elif t['type'] == 'RandomCrop':
            t['crop_size'] = CROP


def tiny_cfg(config: str, work_dir: str, data_root: str, iters: int,
             batch_size: int = 2, checkpoint_interval: Optional[int] = None,
             validate: bool = False) -> Config:
    """Load a project config and make it a seconds-long run on tiny data."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{osp.basename(work_dir)}_{time.time_ns()}'
    cfg.train_dataloader.batch_size = batch_size
    _shrink_pipeline(cfg.train_dataloader.dataset.pipeline)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    set_max_iters(cfg, iters, validate)
    hooks = cfg.default_hooks
    hooks.checkpoint.interval = checkpoint_interval or iters
    hooks.checkpoint.max_keep_ckpts = -1
    hooks.logger.interval = 1
    hooks.visualization.draw = False
    for h in cfg.get('custom_hooks', []):
        if h['type'] == 'ArchitectureHook':
            h['interval'] = checkpoint_interval or iters
            h['history_interval'] = 1
    cfg.log_level = 'WARNING'
    return cfg


def load_state(path: str) -> dict:
    """A runner checkpoint, loaded on the CPU."""
    return CheckpointLoader.load_checkpoint(path, map_location='cpu')


def assert_same_state(a: Any, b: Any, where: str = '') -> None:
    """``a`` and ``b`` (nested checkpoint parts: tensors, dicts, lists,
    arrays, numbers) are equal up to float round-off; the failure names
    the first differing key path."""
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6,
                                   msg=f'differs at {where}')
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            assert_same_state(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f'{where}[{i}]')
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=where)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7), where
    else:
        assert a == b, where


def assert_resumed_run_equal(full: dict, resumed: dict,
                             scalars: Sequence[str], last: int) -> None:
    """A resumed run's checkpoint equals the uninterrupted run's: weights
    and architecture parameters, optimizer states, schedules, and the last
    ``last`` logged values of every key in ``scalars``."""
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same_state(full[part], resumed[part], part)
    hub_full = full['message_hub']['log_scalars']
    hub_res = resumed['message_hub']['log_scalars']
    for key in scalars:
        assert_same_state(hub_full[key].data[0][-last:],
                          hub_res[key].data[0][-last:], key)
