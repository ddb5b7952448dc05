"""The controlled case of share routing: MMoE's two correlated regression
tasks (Ma et al., KDD 2018), MLP sub-networks, a sweep of the task
correlation rho; the library of
``tools/analysis_tools/share_routing_rho.py``.

For every rho and seed (:func:`run_case`): a share-routing search (K = 2
columns, the bilevel step of :class:`~mtlnas_mm.models.ShareRouting`,
:func:`search_routes`), the derived architecture retrained from scratch,
and the baselines retrained with the same recipe and budget
(:class:`Recipe`: same data, iterations, batch, optimizer, schedule):
hard sharing (K = 1, one trunk), single-task columns (own routes only)
and MMoE-like full routing (every route, embedding query)
(:func:`candidates`).  Reported per run: the mean inclusion probability of
the cross-task routes (between the two tasks' columns) and of the own
routes (:func:`route_stats`), the task overlap (:func:`overlap`,
:func:`expected_overlap`), the derived routes, the test MSE of every model
per task (:func:`task_mse`) and their FLOPs per sample
(``mmengine.analysis``, :func:`flops`); per rho the mean and std over the
seeds (:func:`summarise`, drawn by :func:`draw`).

Errors are in units of the target variance: the targets are standardised
with the training split's per-task mean and std (``Recipe.standardise``,
:func:`make_data`), so a test MSE of 1 is the mean predictor and the noise
floor is about ``noise_std^2 / var(y) = 0.01``.  Why the recipe is what it
is (the retrainings of the first version landed near the mean predictor):
the :class:`Recipe` docstring.
"""
import dataclasses
import itertools
import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.optim import OptimWrapper

from ..datasets.correlated_regression import correlated_regression
from ..engine.optimizers import BilevelOptimWrapperConstructor
from ..models import ShareRouting
from ..structures import RouteArchitecture, block_keys
from ..structures.share_routes import own_predecessor

#: the two tasks of the controlled case
TASKS = ('t1', 't2')
#: the retrained models, in the order of the tables and the picture
MODELS = ('derived', 'shared', 'columns', 'full')
#: a task whose test MSE (target-variance units) is above this learned
#: (almost) nothing: the count is reported so a collapse cannot hide in a
#: mean
COLLAPSED = 0.5


@dataclasses.dataclass
class Recipe:
    """Data, networks, search and retraining of the controlled case.

    The defaults are the measured fix of the first version's retrainings,
    which often left a task at the mean predictor (test MSE ~ the target
    variance).  The cause: dead ReLU units.  Every unit of a task's tower
    (``Linear(width, 8)`` + ReLU) or of its column switched off on a range
    of the input projection, after which no gradient revives them and the
    prediction is constant there; the unstandardised targets (mean ~ -0.9)
    start every run with a large push on the output bias that switches
    units off, Adam's lr-sized steps make it fast, and 800 constant-lr
    steps left no time to recover.  Measured (README): the first recipe
    (``--tower-channels 8 --raw-targets --batch 64 --train-iters 800
    --constant-lr``, ``docs/share_routing_rho_first_recipe_cpu.json``)
    vs these defaults (``docs/share_routing_rho_cpu.json``).

    Args:
        dims: input features of the generator.
        width: width of every MLP layer of a sub-network.
        layers: L, share-routing layers (MLP layers per column).
        tower_channels: hidden width of each task's tower (16: wide enough
            that a tower's ReLUs do not all switch off on part of the
            input range, which 8 did).
        n_train: samples of each training split (the search's weight and
            architecture splits; retraining uses both).
        n_test: test samples.
        standardise: standardise the targets with the training split's
            statistics (errors then in target-variance units).
        search_iters: bilevel iterations of the search.
        train_iters: iterations of every retraining.
        batch: batch size (search and retraining).
        lr: Adam learning rate of the weights.
        arch_lr: Adam learning rate of the route and query logits.
        cosine: cosine decay of the retraining learning rate to 0.
        cost: weight of the route-density cost of the search.
    """

    dims: int = 32
    width: int = 16
    layers: int = 2
    tower_channels: int = 16
    n_train: int = 2048
    n_test: int = 2048
    standardise: bool = True
    search_iters: int = 300
    train_iters: int = 1500
    batch: int = 128
    lr: float = 5e-3
    arch_lr: float = 5e-2
    cosine: bool = True
    cost: float = 0.1


def network_cfg(k: int, recipe: Recipe,
                architecture: Optional[RouteArchitecture] = None) -> dict:
    """The ``MultiTaskRegressor`` of the two tasks over a ``ShareRoutes``
    space of ``k`` MLP sub-networks (``recipe``'s widths), fixed to
    ``architecture`` when given (retraining), else searched."""
    space = dict(type='ShareRoutes', num_subnets=k,
                 backbone=dict(type='StagedMLP', in_channels=recipe.dims,
                               channels=(recipe.width, ) * recipe.layers))
    if architecture is not None:
        space['architecture'] = architecture.to_dict()
    return dict(type='MultiTaskRegressor', tasks=list(TASKS),
                in_channels=recipe.width,
                tower_channels=recipe.tower_channels, backbone=space)


def aligned_route_probs(arch: RouteArchitecture) -> Dict[str, List[float]]:
    """The searched inclusion probabilities with the columns named after
    the tasks: the two columns are exchangeable (the space is symmetric
    under swapping sub-networks 0 and 1 in every layer), so they are
    swapped when task ``t1``'s most probable last-layer input is
    sub-network 1.  After it, sub-network ``k`` is task ``k``'s column and
    a block's predecessor ``j`` is its **own** route when ``j`` is the
    block's column, else a **cross-task** route (K = 2)."""
    probs = dict(arch.route_probs)
    if probs[TASKS[0]][1] <= probs[TASKS[0]][0]:
        return probs
    swapped = {}
    for key, p in probs.items():
        if '.' in key:
            layer, k = key.split('.')
            key = f'{layer}.{1 - int(k)}'
        swapped[key] = p[::-1]
    return swapped


def route_stats(arch: RouteArchitecture) -> Dict[str, float]:
    """Mean inclusion probability of the cross-task and own routes
    (:func:`aligned_route_probs`) and the task overlap of the derived and
    of the searched architecture (:func:`overlap`,
    :func:`expected_overlap`)."""
    probs = aligned_route_probs(arch)
    own, cross = [], []
    for key, p in probs.items():
        mine = own_predecessor(key, TASKS, 2)
        for j, v in enumerate(p):
            (own if j == mine else cross).append(v)
    return dict(cross_route_prob=sum(cross) / len(cross),
                own_route_prob=sum(own) / len(own),
                overlap=overlap(arch),
                expected_overlap=expected_overlap(arch))


def overlap(arch: RouteArchitecture) -> float:
    """What the two tasks share: the Jaccard index of the sub-networks
    each task depends on (1: hard sharing, every sub-network serves both;
    0: separate columns).  Unlike route counts it does not depend on how
    the columns are numbered."""
    a, b = (arch.task_subnets(t) for t in TASKS)
    return len(a & b) / len(a | b)


def expected_overlap(arch: RouteArchitecture) -> float:
    """:func:`overlap` averaged over the searched route distribution (every
    block's non-empty routes with their probabilities, enumerated; the
    derived queries)."""
    per_block = []
    for key in arch.block_keys:
        p = arch.route_probs[key]
        options = []
        for mask in itertools.product((0, 1), repeat=arch.num_subnets):
            if any(mask):
                w = math.prod(v if m else 1 - v for v, m in zip(p, mask))
                options.append(
                    (tuple(j for j, m in enumerate(mask) if m), w))
        total = sum(w for _, w in options)
        per_block.append([(r, w / total) for r, w in options])
    value = 0.0
    for combo in itertools.product(*per_block):
        routes = {key: r for key, (r, _) in zip(arch.block_keys, combo)}
        value += math.prod(w for _, w in combo) * overlap(RouteArchitecture(
            arch.tasks, arch.num_layers, arch.num_subnets, routes,
            arch.queries))
    return value


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


def make_data(rho: float, seed: int,
              recipe: Recipe) -> Dict[str, Dict[str, torch.Tensor]]:
    """The weight, architecture and test splits of one rho and seed; the
    targets standardised with the statistics of the two training splits
    (``recipe.standardise``)."""
    splits = {}
    for name, offset, n in (('train', 100, recipe.n_train),
                            ('arch', 200, recipe.n_train),
                            ('test', 300, recipe.n_test)):
        x, y = correlated_regression(n, rho, dims=recipe.dims,
                                     seed=offset + seed)
        splits[name] = dict(inputs=x, data_samples=y)
    if recipe.standardise:
        seen = torch.cat([splits['train']['data_samples'],
                          splits['arch']['data_samples']])
        mean, std = seen.mean(0), seen.std(0)
        for split in splits.values():
            split['data_samples'] = (split['data_samples'] - mean) / std
    return splits


def train(model: ShareRouting, data: Dict[str, torch.Tensor], iters: int,
          recipe: Recipe, seed: int,
          arch_data: Optional[Dict[str, torch.Tensor]] = None) -> None:
    """Adam on the weights, batches drawn with ``seed``; with ``arch_data``
    the bilevel step (search, constant learning rates), else a plain step
    (retraining, cosine decay when ``recipe.cosine``)."""
    if arch_data is not None:
        ow = BilevelOptimWrapperConstructor(dict(
            weight=dict(optimizer=dict(type='Adam', lr=recipe.lr)),
            arch=dict(optimizer=dict(type='Adam', lr=recipe.arch_lr))))(
                model)
        schedule = None
    else:
        ow = OptimWrapper(torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad],
            lr=recipe.lr))
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(
            ow.optimizer, iters) if recipe.cosine else None)
    n = data['inputs'].shape[0]
    g = torch.Generator().manual_seed(seed)
    for _ in range(iters):
        idx = torch.randint(n, (recipe.batch, ), generator=g)
        step = {k: v[idx] for k, v in data.items()}
        if arch_data is not None:
            jdx = torch.randint(arch_data['inputs'].shape[0],
                                (recipe.batch, ), generator=g)
            step = dict(weight=step,
                        arch={k: v[jdx] for k, v in arch_data.items()})
        model.train_step(step, ow)
        if schedule is not None:
            schedule.step()


def task_mse(model: ShareRouting,
             data: Dict[str, torch.Tensor]) -> List[float]:
    """Test MSE of every task."""
    model.eval()
    with torch.no_grad():
        pred = model(data['inputs'], mode='predict')
    model.train()
    return ((pred - data['data_samples'])**2).mean(0).tolist()


def flops(model: torch.nn.Module, dims: int) -> int:
    """FLOPs of one sample through ``model``'s network (``FlopAnalyzer``
    of ``mmengine.analysis``, eval mode)."""
    model.eval()
    out = FlopAnalyzer(model.network if hasattr(model, 'network') else
                       model, (torch.randn(1, dims), ))
    out.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(out.total())


def search_routes(rho: float, seed: int = 0,
                  recipe: Optional[Recipe] = None) -> dict:
    """The search of one rho: the data splits, the derived architecture
    and the route statistics (cross-task vs own routes)."""
    recipe = recipe or Recipe()
    splits = make_data(rho, seed, recipe)
    torch.manual_seed(seed)
    search = ShareRouting(network_cfg(2, recipe),
                          regularizer_weight=recipe.cost)
    train(search, splits['train'], recipe.search_iters, recipe, seed,
          arch_data=splits['arch'])
    arch = search.export()
    y = splits['train']['data_samples']
    return dict(arch=arch, splits=splits,
                label_corr=torch.corrcoef(y.t())[0, 1].item(),
                **route_stats(arch))


def candidates(arch: RouteArchitecture, layers: int) -> dict:
    """``{model: (K, architecture)}`` of the retrained models."""
    return dict(derived=(2, arch),
                shared=(1, fixed('shared', layers, 1)),
                columns=(2, fixed('columns', layers, 2)),
                full=(2, fixed('full', layers, 2)))


def run_case(rho: float, seed: int = 0,
             recipe: Optional[Recipe] = None) -> dict:
    """One rho and seed: search, derive, retrain the derived and baseline
    models from scratch with the same recipe (the same initial generator
    state, batches and budget)."""
    recipe = recipe or Recipe()
    found = search_routes(rho, seed, recipe)
    arch, splits = found.pop('arch'), found.pop('splits')
    result = dict(rho=rho, seed=seed, **found,
                  routes={b: list(r) for b, r in arch.routes.items()},
                  queries=dict(arch.queries), task_mse={}, mse={},
                  flops={})
    # every model retrained on the weight split + the architecture split
    # (the data the search saw)
    all_data = {k: torch.cat([splits['train'][k], splits['arch'][k]])
                for k in splits['train']}
    for name, (k, a) in candidates(arch, recipe.layers).items():
        torch.manual_seed(seed)
        model = ShareRouting(network_cfg(k, recipe, a))
        train(model, all_data, recipe.train_iters, recipe, seed)
        per_task = task_mse(model, splits['test'])
        result['task_mse'][name] = per_task
        result['mse'][name] = sum(per_task) / len(per_task)
        result['flops'][name] = flops(model, recipe.dims)
    return result


def _mean_std(values: Sequence[float]) -> List[float]:
    """``[mean, std]`` (sample std; 0 for one value)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    return [t.mean().item(), t.std().item() if len(values) > 1 else 0.0]


def summarise(results: Sequence[dict]) -> List[dict]:
    """Per rho, over the seeds: ``[mean, std]`` of the route statistics and
    of every model's test MSE (mean of the tasks and per task), the number
    of collapsed tasks (MSE > ``COLLAPSED``) and of seeds where the derived
    model beats hard sharing."""
    rows = []
    for rho in sorted({r['rho'] for r in results}, reverse=True):
        rs = [r for r in results if r['rho'] == rho]
        row = dict(rho=rho, seeds=[r['seed'] for r in rs])
        for key in ('label_corr', 'cross_route_prob', 'own_route_prob',
                    'overlap', 'expected_overlap'):
            row[key] = _mean_std([r[key] for r in rs])
        row['mse'] = {m: _mean_std([r['mse'][m] for r in rs])
                      for m in MODELS}
        row['task_mse'] = {
            m: {t: _mean_std([r['task_mse'][m][i] for r in rs])
                for i, t in enumerate(TASKS)}
            for m in MODELS}
        row['collapsed_tasks'] = {
            m: sum(v > COLLAPSED for r in rs for v in r['task_mse'][m])
            for m in MODELS}
        row['derived_beats_shared'] = sum(
            r['mse']['derived'] < r['mse']['shared'] for r in rs)
        rows.append(row)
    return rows


def draw(summary: Sequence[dict], out: str) -> str:
    """Routes vs rho (left) and test MSE vs rho (right), mean +- std over
    the seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rhos = [s['rho'] for s in summary]

    def bars(ax, values, label, fmt, shift=0.0, floor=None):
        means = [v[0] for v in values]
        low = [v[1] if floor is None else min(v[1], v[0] - floor)
               for v in values]
        ax.errorbar([r + shift for r in rhos], means,
                    yerr=[low, [v[1] for v in values]], fmt=fmt, capsize=3,
                    label=label)

    seeds = len(summary[0]['seeds'])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    bars(a1, [s['cross_route_prob'] for s in summary], 'cross-task routes',
         'o-')
    bars(a1, [s['own_route_prob'] for s in summary], 'own routes', 's--',
         0.01)
    bars(a1, [s['overlap'] for s in summary],
         'task overlap of the derived routes', 'd:', -0.01)
    a1.set_xlabel('task correlation rho')
    a1.set_ylabel('inclusion probability / overlap')
    a1.set_ylim(0, 1.05)
    a1.legend(loc='upper left', fontsize='small')
    a1.set_title(f'searched routes vs rho ({seeds} seeds)')
    for i, name in enumerate(MODELS):
        bars(a2, [s['mse'][name] for s in summary], name, 'o-',
             0.01 * (i - 1.5), floor=1e-3)
    a2.set_yscale('log')
    a2.set_xlabel('task correlation rho')
    a2.set_ylabel('test MSE / target variance (mean of tasks)')
    a2.legend(fontsize='small')
    a2.set_title('retrained, same recipe')
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
