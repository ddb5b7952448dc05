"""Train a model or run an architecture search from a config (mmseg usage).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
        [--amp] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401  (registers components)
from mtlnas_mm.utils import (claim_work_dir, enable_amp, finalize_tool_cfg,
                             init_cpu_distributed, parse_tool_args)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train / search a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='the dir to save logs and models: a new or empty dir, or one '
        'this project wrote (then reused); any other existing dir is '
        'refused')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or (no value) from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: every OptimWrapper (both of a search) '
        'becomes AmpOptimWrapper with dynamic loss scaling; float16 on a '
        'GPU, bfloat16 on a CPU-only machine')
    return parse_tool_args(parser, argv)


def build_cfg(args: argparse.Namespace) -> Config:
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    finalize_tool_cfg(cfg, args.config, args.launcher, args.work_dir)
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = build_cfg(args)
    claim_work_dir(cfg.work_dir, 'train.py',
                   accept_run=args.resume is not None)
    # CPU-only machines: gloo DDP, initialised here instead of by mmengine
    init_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
