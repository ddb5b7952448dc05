"""Run a few search iterations (1 process, or one rank under torchrun) with
everything made batch-composition independent, and save the alphas.

Used by ``test_distributed.py``: GroupNorm instead of BatchNorm, no dropout,
deterministic sigmoid gates in both steps and no random augmentation, so a
2-rank DDP run with batch b per rank must match 1 process with batch 2b up
to the loss averaging.

``--space share-routing`` runs the tiny share-routing search instead (the
weight step samples one route per block; the ranks are seeded
differently) and also saves, per rank, the routes every weight step
sampled, the weights and the generator state at the end.

``--amp`` switches both optimizers to ``AmpOptimWrapper`` and also saves
each rank's loss-scaler states.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import mtlnas_mm  # noqa: E402,F401
from mtlnas_mm.utils import enable_amp, init_cpu_distributed  # noqa: E402
from runner_utils import TINY_SEARCH, tiny_cfg  # noqa: E402

GN = dict(type='GN', num_groups=4, requires_grad=True)
SHARE_ROUTING = 'configs/share_routing/share-routing_vgg-tiny_synthetic.py'
PIPELINE = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap'),
    dict(type='PackMultiTaskInputs'),
]


def _group_norm_heads(network) -> None:
    for task in network.tasks.values():
        head = task.head.get('decoder', task.head)
        head.norm_cfg = GN
        head.dropout_ratio = 0.0


def build_cfg(data_root: str, work_dir: str, batch_size: int, iters: int,
              launcher: str):
    cfg = tiny_cfg(TINY_SEARCH, work_dir, data_root, iters=iters,
                   batch_size=batch_size)
    cfg.launcher = launcher
    network = cfg.model.network
    network.backbone.backbone.norm_cfg = GN
    edges = network.backbone.edges
    edges.fusion.norm_cfg = GN
    # non-zero source weights so the alphas get gradients from step 0
    edges.fusion.init = (0.9, 0.1)
    edges.step_gate_modes = dict(arch='sigmoid', weight='sigmoid')
    _group_norm_heads(network)
    cfg.train_dataloader.dataset.pipeline = list(PIPELINE)
    return cfg


def build_share_routing_cfg(data_root: str, work_dir: str, batch_size: int,
                            iters: int, launcher: str):
    """The tiny share-routing search, GroupNorm, no random augmentation,
    a different seed on every rank."""
    cfg = tiny_cfg(SHARE_ROUTING, work_dir, data_root, iters=iters,
                   batch_size=batch_size)
    cfg.launcher = launcher
    network = cfg.model.network
    network.backbone.backbone.norm_cfg = GN
    _group_norm_heads(network)
    cfg.train_dataloader.dataset.pipeline = list(PIPELINE)
    # different generators on the ranks: only the broadcast of rank 0's
    # routes keeps them identical
    cfg.randomness = dict(seed=0, diff_rank_seed=True)
    return cfg


def record_sampled_routes(space) -> list:
    """Make ``space`` append every route plan it samples to the returned
    list (the weight step's draws)."""
    plans = []
    sample = space.sample_plan

    def recording_sample():
        plan = sample()
        plans.append(plan)
        return plan

    space.sample_plan = recording_sample
    return plans


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('data_root')
    parser.add_argument('work_dir')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--launcher', default='none')
    parser.add_argument('--space', default='mtlnas',
                        choices=['mtlnas', 'share-routing'])
    parser.add_argument('--amp', action='store_true',
                        help='both optimizers AMP (tools/train.py --amp)')
    args = parser.parse_args()
    build = build_cfg if args.space == 'mtlnas' else build_share_routing_cfg
    cfg = build(args.data_root, args.work_dir, args.batch_size, args.iters,
                args.launcher)
    if args.amp:
        enable_amp(cfg)
    # as tools/train.py: gloo process group on CPU-only machines
    init_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    model = getattr(runner.model, 'module', runner.model)
    if args.space == 'share-routing':
        plans = record_sampled_routes(model.search_space)
    runner.train()
    rank = int(os.environ.get('RANK', 0))
    torch.save([a.detach().clone() for a in model.arch_parameters()],
               osp.join(args.work_dir, f'alphas_rank{rank}.pt'))
    if args.amp:
        torch.save({k: w.loss_scaler.state_dict()
                    for k, w in runner.optim_wrapper.items()},
                   osp.join(args.work_dir, f'scalers_rank{rank}.pt'))
    if args.space == 'share-routing':
        arch_ids = {id(p) for p in model.arch_parameters()}
        weights = {n: p.detach().clone()
                   for n, p in model.named_parameters()
                   if id(p) not in arch_ids}
        torch.save(dict(plans=plans, weights=weights,
                        rng=torch.get_rng_state()),
                   osp.join(args.work_dir, f'routes_rank{rank}.pt'))


if __name__ == '__main__':
    main()
