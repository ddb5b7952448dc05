"""The main job on the embedded default: MTL-NAS on generated NYUv2-like data.

    python tools/demo.py [--work-dir work_dirs/demo] [--iters N]

1. generates a small synthetic NYUv2 set (layout of the official release)
   unless it already exists;
2. trains the single-task and NDDR-CNN baselines and runs the MTL-NAS search
   (architecture + weights, minimum entropy), all for the same number of
   iterations with the same data, heads, losses and metrics;
3. derives the searched architecture (edges with alpha > 0) and evaluates it
   directly, without retraining, both as the search model in eval mode and
   rebuilt as a fixed architecture from the exported file; also evaluates
   the search model with soft sigmoid gates (the search-evaluation gap);
4. prints one table (all metrics + delta_m against the single-task
   baseline) and writes it, the architecture, gate curves and prediction
   pictures under the work dir.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner
from prettytable import PrettyTable

import mtlnas_mm  # noqa: F401
from mtlnas_mm.evaluation import delta_m
from mtlnas_mm.structures import Architecture
from mtlnas_mm.utils import set_max_iters, use_fixed_architecture
from mtlnas_mm.visualization import (draw_architecture, draw_gate_curves,
                                     draw_predictions, read_gate_history)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'single-task': 'configs/baselines/single-task_vgg-tiny_synthetic.py',
    'nddr': 'configs/baselines/nddr_vgg-tiny_synthetic.py',
    'search': 'configs/mtlnas/mtlnas_vgg-tiny_synthetic.py',
}
COLUMNS = ['mIoU', 'aAcc', 'mean', 'median', 'rmse', 'within_11.25',
           'within_22.5', 'within_30']


def log(msg: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def ensure_data(data_root: str, num_train: int, num_test: int) -> None:
    # the scene lists are written last (and only by the current generator)
    if osp.isfile(osp.join(data_root, 'list', 'testing_scene.txt')):
        log(f'using generated data in {data_root}')
        return
    log(f'generating {num_train}+{num_test} synthetic scenes in {data_root}')
    subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'dataset_converters',
                 'make_synthetic_nyuv2.py'), '--out',
        data_root, '--num-train',
        str(num_train), '--num-test',
        str(num_test), '--height', '96', '--width', '128', '--seed', '0'
    ], check=True)


def make_cfg(name: str, work_dir: str, data_root: str, iters: int) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[name]))
    cfg.work_dir = osp.join(work_dir, name)
    cfg.experiment_name = f'demo_{name}_{int(time.time())}'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    # evaluate once, through runner.test(), after training
    set_max_iters(cfg, iters, validate=False)
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = max(1, iters // 10)
    return cfg


def evaluate(runner: Runner) -> Dict[str, float]:
    return {k: float(v) for k, v in runner.test().items()}


def predictions_picture(runner: Runner, out: str, title: str,
                        num: int = 3) -> str:
    model = runner.model
    model.eval()
    batch = next(iter(runner.test_dataloader))
    batch = {k: v[:num] for k, v in batch.items()}
    with torch.no_grad():
        samples = model.test_step(batch)
    meta = runner.test_dataloader.dataset.metainfo
    return draw_predictions(samples, out=out, title=title, dataset_meta=meta)


def table(rows: Dict[str, Dict[str, float]]) -> PrettyTable:
    cols = [c for c in COLUMNS if any(c in m for m in rows.values())]
    t = PrettyTable(['model'] + cols + ['delta_m %'])
    for name, m in rows.items():
        t.add_row([name] + [f'{m[c]:.2f}' if c in m else '-' for c in cols]
                  + [f'{m["delta_m"]:+.2f}' if 'delta_m' in m else '-'])
    return t


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs',
                                                       'demo'))
    parser.add_argument('--data-root',
                        default=osp.join(ROOT, 'data', 'synthetic_nyuv2'))
    parser.add_argument('--iters', type=int, default=600)
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-test', type=int, default=60)
    args = parser.parse_args(argv)
    t0 = time.time()
    os.makedirs(args.work_dir, exist_ok=True)
    ensure_data(args.data_root, args.num_train, args.num_test)

    results: Dict[str, Dict[str, float]] = {}
    pictures: List[str] = []
    for name, label in (('single-task', 'single-task'),
                        ('nddr', 'NDDR-CNN')):
        log(f'training {label} for {args.iters} iterations')
        runner = Runner.from_cfg(
            make_cfg(name, args.work_dir, args.data_root, args.iters))
        runner.train()
        results[label] = evaluate(runner)

    log(f'MTL-NAS search for {args.iters} iterations')
    cfg = make_cfg('search', args.work_dir, args.data_root, args.iters)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    arch_dir = osp.join(cfg.work_dir, 'arch')
    arch_file = osp.join(arch_dir, 'arch_final.json')
    arch = Architecture.load(arch_file)
    log(f'derived architecture: {len(arch.kept)}/{len(arch.edges)} edges '
        f'kept -> {arch_file}')
    model.search_space.eval_gate_mode = 'sigmoid'
    results['MTL-NAS supernet (sigmoid gates)'] = evaluate(runner)
    model.search_space.eval_gate_mode = 'hard'
    results['MTL-NAS derived (alpha>0, no retraining)'] = evaluate(runner)
    pictures.append(
        predictions_picture(runner, osp.join(args.work_dir,
                                             'predictions.png'),
                            'MTL-NAS derived model'))

    log('rebuilding the derived model from the exported architecture file')
    fixed_cfg = make_cfg('search', args.work_dir, args.data_root, args.iters)
    fixed_cfg.work_dir = osp.join(args.work_dir, 'derived')
    fixed_cfg.experiment_name += '_derived'
    use_fixed_architecture(fixed_cfg, arch_file)
    fixed_cfg.load_from = osp.join(cfg.work_dir, f'iter_{args.iters}.pth')
    fixed = evaluate(Runner.from_cfg(fixed_cfg))

    pictures.append(
        draw_architecture(arch, osp.join(args.work_dir, 'architecture.png')))
    pictures.append(
        draw_gate_curves(
            read_gate_history(osp.join(arch_dir, 'gate_history.jsonl')),
            arch, osp.join(args.work_dir, 'gate_curves.png')))

    # delta_m over every metric in the table, against the single-task pair
    base = {k: v for k, v in results['single-task'].items() if k in COLUMNS}
    for m in results.values():
        m['delta_m'] = delta_m(m, base)
    print()
    print(table(results))
    gap = {
        k: abs(fixed[k] - results['MTL-NAS derived (alpha>0, no retraining)']
               [k])
        for k in fixed
    }
    print(f'fixed-architecture rebuild vs derived eval, max |diff| = '
          f'{max(gap.values()):.4g}')
    gates = list((arch.gates or {}).values())
    near = sum(p < 0.05 or p > 0.95 for p in gates)
    print(f'gates near 0/1: {near}/{len(gates)}; kept edges: '
          f'{len(arch.kept)}/{len(arch.edges)}')
    out = osp.join(args.work_dir, 'results.json')
    with open(out, 'w') as f:
        json.dump(dict(results=results, fixed_rebuild=fixed,
                       architecture=arch.to_dict(),
                       minutes=(time.time() - t0) / 60), f, indent=2)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table(results).get_string() + '\n')
    print('pictures:', *pictures, sep='\n  ')
    print(f'results: {out}')
    log(f'done in {(time.time() - t0) / 60:.1f} min')
    return results


if __name__ == '__main__':
    main()
