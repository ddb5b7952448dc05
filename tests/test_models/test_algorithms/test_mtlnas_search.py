"""The search itself: gates move, entropy makes them binary, and the
derived model matches the supernet when the gates are near 0/1."""
import pytest
import torch
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from runner_utils import TINY_SEARCH, tiny_cfg

ITERS = 80


def _search(data_root, work_dir, entropy_weight):
    cfg = tiny_cfg(TINY_SEARCH, work_dir, data_root, iters=ITERS)
    # a fast architecture optimizer so 60 iterations are a whole search
    cfg.optim_wrapper.arch.optimizer.lr = 0.1
    for hook in cfg.custom_hooks:
        if hook['type'] == 'MinEntropyHook':
            hook['entropy_weight'] = entropy_weight
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def _binary_entropy(p):
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log())


@pytest.fixture(scope='module')
def searches(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp('searches')
    return {
        weight: _search(data_root, str(root / f'entropy_{weight}'), weight)
        for weight in (0.0, 10.0)
    }


@pytest.mark.slow
def test_search_moves_gates_and_entropy_binarizes_them(searches):
    """Bounds from the statistics measured over randomness seeds 0-3 at 1
    and at 2 threads (8 pairs of searches; the float path differs with
    the thread count and the CPU): the plain search's largest gate move
    0.28-0.41 (bound > 0.1); with the entropy term 92-100 % of the 48
    gates within 0.05 of 0/1 (bound >= 60 %; 77 % was seen on another
    CPU with the heads' earlier initialisation) and a mean gate entropy
    0.073-0.12 of the plain search's (bound < 0.4)."""
    p_plain = searches[0.0].model.search_space.gate_probs().detach()
    p_entropy = searches[10.0].model.search_space.gate_probs().detach()
    assert p_plain.numel() == p_entropy.numel() == 48
    # the task loss alone moves the gates away from 0.5 ...
    assert (p_plain - 0.5).abs().max() > 0.1
    # ... the entropy term drives them to near 0/1, the plain search stays
    # fuzzier
    h_plain = _binary_entropy(p_plain).mean().item()
    h_entropy = _binary_entropy(p_entropy).mean().item()
    near_binary = ((p_entropy < 0.05) | (p_entropy > 0.95)).float().mean()
    assert near_binary >= 0.6, p_entropy
    assert h_entropy < 0.4 * h_plain, (h_entropy, h_plain)


def _eval_outputs(runner, mode):
    model = runner.model
    model.eval()
    batch = next(iter(runner.test_dataloader))
    with torch.no_grad(), model.search_space.eval_relaxation(mode):
        data = model.data_preprocessor(batch, False)
        return model(data['inputs'], data['data_samples'], mode='tensor')


def _relative_gap(runner):
    soft, hard = _eval_outputs(runner, 'sigmoid'), _eval_outputs(
        runner, 'hard')
    return max(((soft[t] - hard[t]).norm() / hard[t].norm()).item()
               for t in hard)


@pytest.mark.slow
def test_derived_model_matches_supernet_when_gates_are_binary(searches):
    """The "no retraining" claim on the searched weights: evaluated with
    the soft gates sigmoid(alpha) or thresholded (alpha > 0, pruned edges
    not computed), the network gives nearly the same outputs and metrics
    when the gates are near 0/1, and clearly different ones when they are
    fuzzy.  The gates are set to sign(alpha) * s to control how binary
    they are (s=6: p = 0.9975; s=0.2: p = 0.55)."""
    runner = searches[10.0]
    alphas = runner.model.arch_parameters()
    searched = [a.detach().clone() for a in alphas]

    def set_scale(scale):
        with torch.no_grad():
            for a, s in zip(alphas, searched):
                a.copy_(torch.where(s > 0, scale, -scale))

    try:
        set_scale(0.2)
        fuzzy = _relative_gap(runner)
        set_scale(6.0)
        binary = _relative_gap(runner)
        with runner.model.search_space.eval_relaxation('sigmoid'):
            soft = runner.test()
        with runner.model.search_space.eval_relaxation('hard'):
            hard = runner.test()
    finally:
        with torch.no_grad():
            for a, s in zip(alphas, searched):
                a.copy_(s)
    assert binary < 0.05 and fuzzy > 4 * binary, (binary, fuzzy)
    assert abs(soft['mIoU'] - hard['mIoU']) <= 0.5, (soft, hard)
    assert abs(soft['mean'] - hard['mean']) <= 0.5, (soft, hard)


@pytest.mark.slow
def test_gate_history_and_schedules_logged(searches):
    runner = searches[10.0]
    hub = runner.message_hub
    assert hub.get_scalar('train/entropy_weight').current() == 10.0
    tau = hub.get_scalar('train/temperature').current()
    # (1 - t/T)^2 at the last iteration, floored at min_temperature
    assert tau == pytest.approx(max(1e-3, (1 - (ITERS - 1) / ITERS)**2))
    entropies = hub.get_scalar('train/arch.entropy').data[0]
    assert entropies[-1] < entropies[0]
    assert torch.isfinite(runner.model.search_space.gate_probs()).all()
    stats = runner.model.log_stats()
    assert hub.get_scalar('train/gate_kept').current() == stats['gate_kept']
