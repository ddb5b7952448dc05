"""A search under DDP (2 CPU processes, gloo) keeps identical gates on all
ranks and matches one process with the doubled batch; a share-routing
search trains identical sampled routes on all ranks; the explicit CPU
initialisation (``init_cpu_distributed``) acts on CPU-only machines only."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import is_distributed

from mtlnas_mm.utils import init_cpu_distributed
from runner_utils import ROOT, TINY_SEARCH, generate_data

WORKER = osp.join(ROOT, 'tests', 'dist_search_worker.py')


def _run(args, env=None):
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ddp_search_gates_identical_and_match_single_process(tmp_path):
    data_root = generate_data(str(tmp_path / 'data'), num_train=16,
                              num_test=2)
    ddp_dir, single_dir = str(tmp_path / 'ddp'), str(tmp_path / 'single')
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_PORT='29517')
    _run(['-m', 'torch.distributed.run', '--nproc_per_node=2',
          '--master_port=29517', WORKER, data_root, ddp_dir,
          '--batch-size', '2', '--launcher', 'pytorch'], env)
    _run([WORKER, data_root, single_dir, '--batch-size', '4'], env)
    rank0 = torch.load(osp.join(ddp_dir, 'alphas_rank0.pt'))
    rank1 = torch.load(osp.join(ddp_dir, 'alphas_rank1.pt'))
    single = torch.load(osp.join(single_dir, 'alphas_rank0.pt'))
    moved = max(a.abs().max().item() for a in single)
    assert moved > 1e-3, 'the search did not move the alphas'
    for a0, a1, s in zip(rank0, rank1, single):
        torch.testing.assert_close(a0, a1, rtol=0, atol=0)
        # 3 Adam steps of lr 1e-2: the runs agree far below the step size
        torch.testing.assert_close(a0, s, rtol=0, atol=2e-3)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU (bf16) AMP')
def test_ddp_amp_search_keeps_gates_and_scalers_identical(tmp_path):
    """Both steps under AmpOptimWrapper on 2 ranks: the scaled architecture
    gradients averaged by NASDistributedDataParallel and the weight
    gradients all-reduced by DDP give identical gates, weights' updates
    and loss-scaler states on both ranks; the gates move."""
    data_root = generate_data(str(tmp_path / 'data'), num_train=8,
                              num_test=2)
    work = str(tmp_path / 'ddp')
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_PORT='29521')
    _run(['-m', 'torch.distributed.run', '--nproc_per_node=2',
          '--master_port=29521', WORKER, data_root, work, '--batch-size',
          '2', '--iters', '3', '--launcher', 'pytorch', '--amp'], env)
    alphas = [torch.load(osp.join(work, f'alphas_rank{r}.pt'))
              for r in (0, 1)]
    scalers = [torch.load(osp.join(work, f'scalers_rank{r}.pt'))
               for r in (0, 1)]
    assert max(a.abs().max().item() for a in alphas[0]) > 1e-3
    for a0, a1 in zip(*alphas):
        torch.testing.assert_close(a0, a1, rtol=0, atol=0)
    assert set(scalers[0]) == {'arch', 'weight'}
    assert scalers[0] == scalers[1]
    assert scalers[0]['arch']['_growth_tracker'] == 3


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ddp_share_routing_search_trains_the_same_routes_on_every_rank(
        tmp_path):
    """A 4-iteration share-routing search on 2 ranks seeded differently
    (``diff_rank_seed``): every weight step trains the same sampled routes
    on both ranks (rank 0's draw is broadcast), and the logits and weights
    stay identical; DDP runs with the sampled sub-networks' parameters
    unused in the weight step and the logits in no weight step."""
    data_root = generate_data(str(tmp_path / 'data'), num_train=16,
                              num_test=2)
    work = str(tmp_path / 'ddp')
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_PORT='29519')
    _run(['-m', 'torch.distributed.run', '--nproc_per_node=2',
          '--master_port=29519', WORKER, data_root, work, '--batch-size',
          '2', '--iters', '4', '--launcher', 'pytorch', '--space',
          'share-routing'], env)
    ranks = [torch.load(osp.join(work, f'routes_rank{r}.pt'))
             for r in (0, 1)]
    logits = [torch.load(osp.join(work, f'alphas_rank{r}.pt'))
              for r in (0, 1)]
    # the generators differ, so equal routes are not equal seeds' draws
    assert not torch.equal(ranks[0]['rng'], ranks[1]['rng'])
    plans = ranks[0]['plans']
    assert len(plans) == 4  # one draw per weight step
    assert len({tuple(sorted(p.items())) for p in plans}) > 1
    assert plans == ranks[1]['plans']
    assert len(logits[0]) == 2  # route and query logits
    assert max(a.abs().max().item() for a in logits[0]) > 1e-3
    for a0, a1 in zip(*logits):
        torch.testing.assert_close(a0, a1, rtol=0, atol=0)
    weights = ranks[0]['weights']
    assert set(weights) == set(ranks[1]['weights'])
    for name, w in weights.items():
        torch.testing.assert_close(w, ranks[1]['weights'][name], rtol=0,
                                   atol=0, msg=name)


def _cfg(launcher):
    cfg = Config.fromfile(osp.join(ROOT, TINY_SEARCH))
    cfg.launcher = launcher
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    return cfg


def test_cpu_init_leaves_other_launchers_and_cuda_machines_to_mmengine(
        monkeypatch):
    cfg = _cfg('none')
    assert not init_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg('pytorch')
    assert not init_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert not torch_dist.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only machines')
def test_cpu_init_starts_a_gloo_group(monkeypatch):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    cfg = _cfg('pytorch')
    cfg.env_cfg.dist_cfg.timeout = 60
    try:
        assert init_cpu_distributed(cfg)
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert torch_dist.get_backend() == 'gloo'
        # what Runner.setup_env checks before calling mmengine's init_dist
        assert is_distributed()
        assert not init_cpu_distributed(cfg)  # already initialised
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
