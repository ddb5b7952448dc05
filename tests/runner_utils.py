"""Helpers for the tests that run configs through mmengine's Runner."""
import os.path as osp
import time
from typing import Optional

from mmengine.config import Config

from mtlnas_mm.utils import set_max_iters

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SEARCH = 'configs/mtlnas/mtlnas_vgg-tiny_synthetic.py'
CROP = (32, 32)


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
