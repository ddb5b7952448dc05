"""The share-routing algorithm: the bilevel step with its two estimators,
a short search, and the controlled case of MMoE's correlated tasks."""
import copy

import pytest
import torch

import mtlnas_mm  # noqa: F401
from mtlnas_mm.analysis import share_routing_rho as rho_case
from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
from builders import regression_batch, routing_algorithm

def optim(model, lr=1e-2, arch_lr=5e-2):
    return BilevelOptimWrapperConstructor(dict(
        weight=dict(optimizer=dict(type='Adam', lr=lr)),
        arch=dict(optimizer=dict(type='Adam', lr=arch_lr))))(model)


def test_bilevel_step_has_no_gradient_leak():
    """The architecture optimizer steps with the gradient of the expected
    route's loss + cost only; the weight optimizer with the sampled
    route's training gradient only; both modes are restored after."""
    torch.manual_seed(0)
    model = routing_algorithm(k=3, regularizer_weight=0.5)
    space = model.search_space
    with torch.no_grad():  # non-zero gates: gradients reach every logit
        for gate in space.gates.values():
            for p in gate.parameters():
                p.normal_()
    ow = optim(model)
    arch_batch, weight_batch = regression_batch(0.5, 16, 1), regression_batch(0.5, 16, 2)

    ref = copy.deepcopy(model)
    ref.set_step('arch')
    losses = ref(**arch_batch, mode='loss')
    (sum(losses.values()) + 0.5 * ref.regularizer()).backward()
    expected_arch = [p.grad.clone() for p in ref.arch_parameters()]

    seen = {}
    arch_step, weight_step = ow['arch'].step, ow['weight'].step
    rng = torch.get_rng_state()

    def spy_arch(*a, **k):
        seen['modes'] = [space.route_mode]
        seen['arch'] = [p.grad.clone() for p in model.arch_parameters()]
        return arch_step(*a, **k)

    def spy_weights(*a, **k):
        seen['modes'].append(space.route_mode)
        seen['weights'] = {n: p.grad.clone() for n, p in
                           model.named_parameters() if p.grad is not None
                           and p.requires_grad}
        # the training gradient alone, at the post-step logits, with the
        # same sampled routes (the expected route draws nothing)
        now = copy.deepcopy(model)
        now.zero_grad()
        now.set_step('weight')
        state = torch.get_rng_state()
        torch.set_rng_state(rng)
        sum(now(**weight_batch, mode='loss').values()).backward()
        torch.set_rng_state(state)
        seen['expected_weights'] = {
            n: p.grad for n, p in now.named_parameters()
            if p.grad is not None}
        return weight_step(*a, **k)

    ow['arch'].step, ow['weight'].step = spy_arch, spy_weights
    log = model.train_step(dict(weight=weight_batch, arch=arch_batch), ow)
    assert seen['modes'] == ['expected', 'sample']
    assert space.route_mode == 'expected'
    for got, want in zip(seen['arch'], expected_arch):
        torch.testing.assert_close(got, want)
    arch_ids = {id(p) for p in model.arch_parameters()}
    named = dict(model.named_parameters())
    weights = {n for n in seen['expected_weights']
               if id(named[n]) not in arch_ids}
    assert weights and weights <= set(seen['weights'])
    for n in weights:
        torch.testing.assert_close(seen['weights'][n],
                                   seen['expected_weights'][n])
    assert 'arch.loss_route_cost' in log and 'arch.route_cost' in log
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in model.parameters())


def search(rho, iters, cost, seed=0, k=2, n=256, lr=1e-2, arch_lr=5e-2):
    torch.manual_seed(seed)
    model = routing_algorithm(k=k, regularizer_weight=cost)
    ow = optim(model, lr, arch_lr)
    train, held = regression_batch(rho, n, 10 + seed), regression_batch(rho, n, 20 + seed)
    for i in range(iters):
        sl = slice((i * 32) % n, (i * 32) % n + 32)
        model.train_step(dict(
            weight={k: v[sl] for k, v in train.items()},
            arch={k: v[sl] for k, v in held.items()}), ow)
    return model


def test_short_search_moves_the_logits_and_the_cost_sparsifies():
    plain = search(0.5, 30, cost=0.0)
    costly = search(0.5, 30, cost=5.0)
    moved = max((p - 0).abs().max().item() for p in plain.arch_parameters())
    assert moved > 0.1
    # the cost term lowers the inclusion probabilities
    p_plain = plain.search_space.route_probs().mean().item()
    p_costly = costly.search_space.route_probs().mean().item()
    assert p_costly < p_plain - 0.1, (p_costly, p_plain)
    arch = costly.export()
    assert arch.kind == 'share_routes'
    # every block keeps its single most probable input
    assert arch.num_routes() == len(arch.block_keys)


def _routes(probs, tasks=('t1', 't2')):
    """A K = 2, L = 2 architecture with inclusion probabilities ``probs``
    (block -> [p(<-0), p(<-1)]), derived as ``ShareRoutes.derive``."""
    from mtlnas_mm.structures import RouteArchitecture
    routes = {b: [j for j, v in enumerate(p) if v > 0.5] or
              [max(range(2), key=p.__getitem__)] for b, p in probs.items()}
    return RouteArchitecture(tasks, 2, 2, routes,
                             {b: 'embedding' for b in probs},
                             route_probs=probs)


def test_controlled_case_route_statistics_name_columns_by_task():
    """The two columns are exchangeable, so the statistics of the
    controlled case do not depend on their numbering: an architecture and
    its column-swapped twin (task t1 reading sub-network 1) have the same
    cross-task / own route probabilities and task overlap; the overlap is 1
    for hard sharing and 0 for separate columns."""
    columns = {'1.0': [0.9, 0.2], '1.1': [0.1, 0.8], 't1': [0.7, 0.3],
               't2': [0.4, 0.6]}
    swapped = {'1.0': [0.8, 0.1], '1.1': [0.2, 0.9], 't1': [0.3, 0.7],
               't2': [0.6, 0.4]}
    a, b = rho_case.route_stats(_routes(columns)), rho_case.route_stats(
        _routes(swapped))
    assert a == pytest.approx(b)
    assert a['cross_route_prob'] == pytest.approx((.2 + .1 + .3 + .4) / 4)
    assert a['own_route_prob'] == pytest.approx((.9 + .8 + .7 + .6) / 4)
    assert a['overlap'] == 0.0
    # both tasks read sub-network 0 of layer 1, which reads 0: hard sharing
    shared = rho_case.route_stats(_routes({
        '1.0': [0.9, 0.1], '1.1': [0.9, 0.1], 't1': [0.9, 0.1],
        't2': [0.9, 0.1]}))
    assert shared['overlap'] == 1.0
    assert 0 < a['expected_overlap'] < shared['expected_overlap'] < 1


@pytest.mark.slow
def test_controlled_case_tasks_share_less_as_rho_falls():
    """MMoE's correlated tasks: the searched routes let uncorrelated tasks
    (rho = 0) share clearly fewer sub-networks than identical ones
    (rho = 1): mean task overlap over three seeds of a small search (the
    sweep over rho and seeds is tools/analysis_tools/share_routing_rho.py;
    single seeds at rho = 0 may still share, see the README)."""
    recipe = rho_case.Recipe(width=8, n_train=512, search_iters=200)
    overlap = {}
    for rho in (1.0, 0.0):
        runs = [rho_case.search_routes(rho, seed, recipe)
                for seed in range(3)]
        corr = sum(r['label_corr'] for r in runs) / 3
        assert (corr > 0.9) if rho == 1.0 else (abs(corr) < 0.1)
        overlap[rho] = sum(r['expected_overlap'] for r in runs) / 3
    assert overlap[0.0] < overlap[1.0] - 0.1, overlap


@pytest.mark.slow
def test_configs_build_and_the_tiny_search_runs(tmp_path):
    """The three configs build (VGG-16 / ResNet-50 as sub-networks) and the
    tiny CPU search runs two bilevel iterations and exports routes."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmseg.registry import MODELS
    from mtlnas_mm.structures import load_architecture
    from runner_utils import ROOT, generate_data, tiny_cfg
    for name, layers in (('vgg16_nyuv2', 5), ('r50_nyuv2', 4)):
        cfg = Config.fromfile(osp.join(
            ROOT, f'configs/share_routing/share-routing_{name}.py'))
        space = MODELS.build(cfg.model).search_space
        assert space.num_layers == layers and space.num_subnets == 2
    data_root = generate_data(str(tmp_path / 'data'), num_train=4,
                              num_test=2)
    cfg = tiny_cfg('configs/share_routing/share-routing_vgg-tiny_synthetic.py',
                   str(tmp_path / 'work'), data_root, iters=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    arch = load_architecture(str(tmp_path / 'work' / 'arch' /
                                 'arch_final.json'))
    assert arch.kind == 'share_routes' and arch.num_layers == 5


@pytest.mark.slow
def test_share_routing_search_resumes_after_a_crash(tmp_path):
    """The tiny share-routing search killed after iteration 2 of 4 and
    resumed from its iteration-2 checkpoint ends with the logits, weights,
    optimizer states, schedules and losses of the uninterrupted run: the
    generator states restored by the bilevel loop replay the sampled
    routes."""
    import os.path as osp

    from mmengine.runner import Runner

    from runner_utils import (assert_resumed_run_equal, generate_data,
                              load_state, tiny_cfg)
    config = 'configs/share_routing/share-routing_vgg-tiny_synthetic.py'
    data = generate_data(str(tmp_path / 'data'), num_train=4, num_test=2)
    full_dir, resumed_dir = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    Runner.from_cfg(tiny_cfg(config, full_dir, data, iters=4,
                             checkpoint_interval=2)).train()
    cfg = tiny_cfg(config, resumed_dir, data, iters=4,
                   checkpoint_interval=2)
    cfg.resume = True
    cfg.load_from = osp.join(full_dir, 'iter_2.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    half = load_state(osp.join(full_dir, 'iter_2.pth'))['state_dict']
    full = load_state(osp.join(full_dir, 'iter_4.pth'))
    resumed = load_state(osp.join(resumed_dir, 'iter_4.pth'))
    logits = [k for k in full['state_dict'] if k.endswith('_logits')]
    assert len(logits) == 2, logits  # route and query logits
    # the second half moved the logits: the equality below is not the
    # checkpoint merely loaded
    assert all(not torch.equal(half[k], full['state_dict'][k])
               for k in logits)
    assert_resumed_run_equal(
        full, resumed,
        ('train/loss', 'train/arch.loss', 'train/arch.route_cost'), last=2)
