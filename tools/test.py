"""Evaluate a checkpoint (mmseg usage).

    python tools/test.py CONFIG CHECKPOINT [--arch ARCH.json]
        [--work-dir DIR] [--out PREDICTIONS.pkl] [--metrics-out M.json]
        [--show-dir DIR] [--overwrite] [--cfg-options ...]

A searched checkpoint is evaluated directly, without retraining: in eval
mode the MTL-NAS search space keeps the edges with alpha > 0 and does not
compute the others.  ``--arch`` instead fixes the search space to an
architecture file (``fix_subnet``; from
``tools/analysis_tools/derive_arch.py`` or the ``ArchitectureHook``); the
search checkpoint loads into it unchanged.  ``--out`` dumps the
predictions (mmengine's ``DumpResults``, as mmseg / mmpretrain), the
metrics always go to ``--metrics-out`` (default
``WORK_DIR/test_metrics.json``).  An existing ``--out`` or ``--metrics-out``
file is refused before the model is built unless ``--overwrite`` is given;
the work dir follows :func:`mtlnas_mm.utils.claim_work_dir`.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults
from mmengine.fileio import dump
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from mtlnas_mm.utils import (claim_output_dir, claim_output_file,
                             claim_work_dir, finalize_tool_cfg,
                             init_cpu_distributed, is_launch_main,
                             parse_tool_args, use_fixed_architecture)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--arch', help='architecture file: evaluate this fixed architecture')
    parser.add_argument('--work-dir', help='dir for logs and metrics')
    parser.add_argument(
        '--out', help='pickle file (.pkl) to dump the predictions to')
    parser.add_argument(
        '--metrics-out',
        help='JSON file for the metrics (default: WORK_DIR/test_metrics.json)')
    parser.add_argument(
        '--show-dir', help='dir to save painted predictions')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='replace existing --out / --metrics-out files')
    return parse_tool_args(parser, argv)


def build_cfg(args: argparse.Namespace) -> Config:
    for path, what in ((args.config, 'config'),
                       (args.checkpoint, 'checkpoint'),
                       (args.arch, 'architecture')):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    finalize_tool_cfg(cfg, args.config, args.launcher, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.arch is not None:
        use_fixed_architecture(cfg, args.arch, source=args.config)
    if args.show_dir is not None:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise KeyError(f'{args.config}: --show-dir needs '
                           'default_hooks.visualization')
        hooks.visualization.draw = True
        hooks.visualization.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    return cfg


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = build_cfg(args)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {args.out}: predictions are dumped as a '
                         'pickle file (.pkl)')
    # every output is checked before anything runs; test.py adds a log
    # folder to a run's work dir, so an mmengine work dir is accepted
    claim_work_dir(cfg.work_dir, 'test.py', accept_run=True)
    metrics_out = args.metrics_out or osp.join(cfg.work_dir,
                                               'test_metrics.json')
    if is_launch_main():
        for path, what in ((args.out, '--out'),
                           (args.metrics_out, '--metrics-out')):
            if path is not None:
                claim_output_file(path, 'test.py', args.overwrite, what)
        if args.show_dir is not None:
            claim_output_dir(args.show_dir, 'test.py --show-dir')
    # CPU-only machines: gloo DDP, initialised here instead of by mmengine
    init_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if not is_main_process():  # one file under dist_test.sh
        return
    dump({k: float(v) for k, v in metrics.items()}, metrics_out, indent=2)
    runner.logger.info(f'metrics written to {metrics_out}')


if __name__ == '__main__':
    main()
