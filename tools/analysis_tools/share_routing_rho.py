"""The controlled case of share routing: MMoE's two correlated regression
tasks (Ma et al., KDD 2018), MLP sub-networks, a sweep of the task
correlation rho.

For every rho: a share-routing search (K = 2 columns, the bilevel step of
:class:`ShareRouting`), the derived architecture retrained from scratch,
and the baselines retrained alike with the same budget: hard sharing
(K = 1, one trunk), single-task columns (own routes only) and MMoE-like
full routing (every route, embedding query).  Reported per rho: the mean
inclusion probability of the cross-task routes (between the two tasks'
columns), the derived routes, test MSE (mean of the two tasks) of every
model and their FLOPs per sample (``mmengine.analysis``).

    python tools/analysis_tools/share_routing_rho.py --out-dir work_dirs/rho

writes ``share_routing_rho.json`` and ``share_routing_rho.png``.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
import mtlnas_mm  # noqa: E402,F401
from mmengine.analysis import FlopAnalyzer  # noqa: E402
from mtlnas_mm.datasets.correlated_regression import \
    correlated_regression  # noqa: E402
from mtlnas_mm.engine.optimizers import \
    BilevelOptimWrapperConstructor  # noqa: E402
from mtlnas_mm.models import ShareRouting  # noqa: E402
from mtlnas_mm.structures import RouteArchitecture, block_keys  # noqa: E402
from mtlnas_mm.structures.share_routes import own_predecessor  # noqa: E402
from mtlnas_mm.utils import claim_output_dir  # noqa: E402

TASKS = ('t1', 't2')


def network_cfg(k: int, dims: int, width: int, layers: int,
                architecture: Optional[RouteArchitecture] = None) -> dict:
    space = dict(type='ShareRoutes', num_subnets=k,
                 backbone=dict(type='StagedMLP', in_channels=dims,
                               channels=(width, ) * layers))
    if architecture is not None:
        space['architecture'] = architecture.to_dict()
    return dict(type='MultiTaskRegressor', tasks=list(TASKS),
                in_channels=width, backbone=space)


def cross_routes(probs: Dict[str, float], k: int = 2) -> List[str]:
    """Route names (``'<block>.<-j>'``) between different tasks' columns:
    predecessor ``j`` is not the block's own sub-network."""
    return [name for name in probs
            if int(name.rsplit('<-', 1)[1]) != own_predecessor(
                name.rsplit('<-', 1)[0], TASKS, k)]


def fixed(name: str, num_layers: int, k: int) -> RouteArchitecture:
    """Baseline architectures: ``'columns'`` (own routes), ``'full'``
    (every route, embedding query) and ``'shared'`` (K = 1)."""
    keys = block_keys(TASKS, num_layers, k)
    if name == 'columns':
        routes = {b: [own_predecessor(b, TASKS, k)] for b in keys}
    else:
        routes = {b: list(range(k)) for b in keys}
    return RouteArchitecture(TASKS, num_layers, k, routes,
                             {b: 'embedding' for b in keys})


def train(model, data: Dict[str, torch.Tensor], iters: int, lr: float,
          batch: int, arch_data=None, arch_lr: float = 0.0) -> None:
    """Adam on the weights (and the bilevel step when ``arch_data``)."""
    ow = BilevelOptimWrapperConstructor(dict(
        weight=dict(optimizer=dict(type='Adam', lr=lr)),
        arch=dict(optimizer=dict(type='Adam', lr=arch_lr or lr))))(model) \
        if arch_data is not None else None
    if ow is None:
        from mmengine.optim import OptimWrapper
        ow = OptimWrapper(torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad], lr=lr))
    n = data['inputs'].shape[0]
    g = torch.Generator().manual_seed(0)
    for _ in range(iters):
        idx = torch.randint(n, (batch, ), generator=g)
        step = {k: v[idx] for k, v in data.items()}
        if arch_data is not None:
            jdx = torch.randint(arch_data['inputs'].shape[0], (batch, ),
                                generator=g)
            step = dict(weight=step,
                        arch={k: v[jdx] for k, v in arch_data.items()})
        model.train_step(step, ow)


def mse(model, data) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(data['inputs'], mode='predict')
    model.train()
    return ((pred - data['data_samples'])**2).mean().item()


def flops(model, dims: int) -> int:
    model.eval()
    out = FlopAnalyzer(model.network if hasattr(model, 'network') else
                       model, (torch.randn(1, dims), ))
    out.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(out.total())


def search_routes(rho: float, seed: int = 0, dims: int = 32,
                  width: int = 16, layers: int = 2, n_train: int = 2048,
                  search_iters: int = 300, batch: int = 64,
                  lr: float = 5e-3, arch_lr: float = 5e-2,
                  cost: float = 0.1) -> dict:
    """The search of one rho: the data splits, the derived architecture
    and the route statistics (cross-task vs own routes)."""
    torch.manual_seed(seed)
    x, y = correlated_regression(n_train, rho, dims=dims, seed=100 + seed)
    xa, ya = correlated_regression(n_train, rho, dims=dims, seed=200 + seed)
    train_data = dict(inputs=x, data_samples=y)
    arch_data = dict(inputs=xa, data_samples=ya)
    search = ShareRouting(network_cfg(2, dims, width, layers),
                          regularizer_weight=cost)
    train(search, train_data, search_iters, lr, batch, arch_data, arch_lr)
    arch = search.export()
    probs = arch.soft_values()
    cross = cross_routes(probs)
    return dict(
        arch=arch, train_data=train_data, arch_data=arch_data,
        label_corr=torch.corrcoef(y.t())[0, 1].item(),
        cross_route_prob=sum(probs[c] for c in cross) / len(cross),
        own_route_prob=sum(v for c, v in probs.items() if c not in cross) /
        (len(probs) - len(cross)),
        cross_routes_kept=sum(
            int(c.rsplit('<-', 1)[1]) in arch.routes[c.rsplit('<-', 1)[0]]
            for c in cross))


def run_case(rho: float, seed: int = 0, dims: int = 32, width: int = 16,
             layers: int = 2, n_train: int = 2048, n_test: int = 2048,
             search_iters: int = 300, train_iters: int = 600,
             batch: int = 64, lr: float = 5e-3, arch_lr: float = 5e-2,
             cost: float = 0.1) -> dict:
    """One rho: search, derive, retrain the derived and baseline models."""
    found = search_routes(rho, seed, dims, width, layers, n_train,
                          search_iters, batch, lr, arch_lr, cost)
    arch = found.pop('arch')
    train_data, arch_data = found.pop('train_data'), found.pop('arch_data')
    xt, yt = correlated_regression(n_test, rho, dims=dims, seed=300 + seed)
    test_data = dict(inputs=xt, data_samples=yt)
    result = dict(rho=rho, seed=seed, **found,
                  routes={b: list(r) for b, r in arch.routes.items()},
                  queries=dict(arch.queries), mse={}, flops={})
    # every model retrained from scratch on the weight split + the held-out
    # split (the data the search saw), same budget
    all_data = {k: torch.cat([train_data[k], arch_data[k]])
                for k in train_data}
    candidates = dict(derived=(2, arch),
                      columns=(2, fixed('columns', layers, 2)),
                      full=(2, fixed('full', layers, 2)),
                      shared=(1, fixed('shared', layers, 1)))
    for name, (k, a) in candidates.items():
        torch.manual_seed(seed)
        model = ShareRouting(network_cfg(k, dims, width, layers, a))
        train(model, all_data, train_iters, lr, batch)
        result['mse'][name] = mse(model, test_data)
        result['flops'][name] = flops(model, dims)
    return result


def draw(results: Sequence[dict], out: str) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rhos = sorted({r['rho'] for r in results})

    def mean(key, sub=None):
        vals = []
        for rho in rhos:
            rs = [r for r in results if r['rho'] == rho]
            v = [r[key][sub] if sub else r[key] for r in rs]
            vals.append(sum(v) / len(v))
        return vals

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(rhos, mean('cross_route_prob'), 'o-', label='cross-task routes')
    a1.plot(rhos, mean('own_route_prob'), 's--', label='own routes')
    a1.set_xlabel('task correlation rho')
    a1.set_ylabel('mean inclusion probability')
    a1.set_ylim(0, 1)
    a1.legend()
    a1.set_title('searched routes vs rho')
    for name in ('derived', 'shared', 'columns', 'full'):
        a2.plot(rhos, mean('mse', name), 'o-', label=name)
    a2.set_xlabel('task correlation rho')
    a2.set_ylabel('test MSE (mean of the two tasks)')
    a2.legend()
    a2.set_title('retrained models')
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/share_routing_rho')
    parser.add_argument('--rhos', type=float, nargs='+',
                        default=[1.0, 0.9, 0.7, 0.5, 0.3, 0.0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--cost', type=float, default=0.1)
    parser.add_argument('--search-iters', type=int, default=300)
    parser.add_argument('--train-iters', type=int, default=600)
    parser.add_argument('--dims', type=int, default=32)
    parser.add_argument('--width', type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    claim_output_dir(args.out_dir, 'share_routing_rho.py')
    results = []
    for rho in args.rhos:
        for seed in args.seeds:
            r = run_case(rho, seed, dims=args.dims, width=args.width,
                         cost=args.cost,
                         search_iters=args.search_iters,
                         train_iters=args.train_iters)
            print(json.dumps({k: r[k] for k in (
                'rho', 'seed', 'cross_route_prob', 'cross_routes_kept',
                'mse')}))
            results.append(r)
    with open(osp.join(args.out_dir, 'share_routing_rho.json'), 'w') as f:
        json.dump(dict(args=vars(args), results=results), f, indent=1)
    print(draw(results, osp.join(args.out_dir, 'share_routing_rho.png')))


if __name__ == '__main__':
    main()
