"""A search under DDP (2 CPU processes, gloo) keeps identical gates on all
ranks and matches one process with the doubled batch."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from runner_utils import ROOT, generate_data

WORKER = osp.join(ROOT, 'tests', 'dist_search_worker.py')


def _run(args, env=None):
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


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
