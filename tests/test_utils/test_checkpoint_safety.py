"""Checkpoints load with torch's ``weights_only`` unpickler: mmengine's runner
checkpoints load and resume, a checkpoint whose pickle runs code is refused
on every loading path of the runner, and every failed load names the
file."""
import io
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

import mtlnas_mm  # noqa: F401
from mtlnas_mm.utils import (CheckpointLoadError, CheckpointRefusedError,
                             history_buffer_method)
from runner_utils import TINY_SEARCH, tiny_cfg

BASELINE = 'configs/baselines/nddr_vgg-tiny_synthetic.py'


class RunsCode:
    """Pickles as a call of ``exec``: unpickling writes ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("ran")', )


class ReachesRegistry:
    """Pickles as ``getattr(HistoryBuffer, 'register_statistics')``, the
    method that installs arbitrary callables."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, 'register_statistics')


@pytest.mark.slow
def test_runner_checkpoint_loads_weights_only_and_resumes(data_root,
                                                          tmp_path):
    """A search checkpoint (message hub, optimizers, RNG states) needs the
    allowlist, loads through mmengine's loader with it, and resumes."""
    first = str(tmp_path / 'first')
    Runner.from_cfg(tiny_cfg(TINY_SEARCH, first, data_root, iters=2)).train()
    ckpt = osp.join(first, 'iter_2.pth')

    # without the plugin's allowlist weights_only refuses mmengine's file
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError,
                           match='Unsupported global.*HistoryBuffer'):
            torch.load(ckpt, weights_only=True)
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(registered)

    torch.load(ckpt, weights_only=True)
    state = CheckpointLoader.load_checkpoint(ckpt, map_location='cpu')
    assert {'meta', 'state_dict', 'message_hub', 'optimizer',
            'param_schedulers'} <= set(state)
    # the generator states the bilevel loop records in the message hub
    rng = state['message_hub']['runtime_info']['rng_state']
    assert set(rng) >= {'python', 'numpy', 'torch'}
    loss = state['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer) and len(loss.data[0]) == 2
    assert loss.statistics('mean') == pytest.approx(loss.data[0].mean())
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))

    cfg = tiny_cfg(TINY_SEARCH, str(tmp_path / 'resumed'), data_root,
                   iters=3)
    cfg.resume, cfg.load_from = True, ckpt
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    resumed = CheckpointLoader.load_checkpoint(
        osp.join(str(tmp_path / 'resumed'), 'iter_3.pth'), map_location='cpu')
    assert resumed['meta']['iter'] == 3
    assert len(resumed['message_hub']['log_scalars']['train/loss']
               .data[0]) == 3


def test_checkpoint_that_runs_code_is_refused(data_root, tmp_path):
    marker = str(tmp_path / 'pwned')
    evil = str(tmp_path / 'evil.pth')
    torch.save({'meta': {}, 'state_dict': {}, 'payload': RunsCode(marker)},
               evil)
    # the payload is real: full unpickling runs it
    torch.load(evil, weights_only=False)
    assert osp.isfile(marker)
    os.remove(marker)

    runner = Runner.from_cfg(
        tiny_cfg(BASELINE, str(tmp_path / 'work'), data_root, iters=1))
    loads = {
        'CheckpointLoader.load_checkpoint':
        lambda: CheckpointLoader.load_checkpoint(evil, map_location='cpu'),
        'Runner.load_checkpoint':
        lambda: runner.load_checkpoint(evil, map_location='cpu'),
        'Runner.resume': lambda: runner.resume(evil, map_location='cpu'),
        'load_checkpoint': lambda: load_checkpoint(runner.model, evil),
    }
    for name, load in loads.items():
        # the error names the file and keeps torch's reason
        with pytest.raises(CheckpointRefusedError,
                           match=f'{evil}: refused by torch.*exec') as err:
            load()
        assert isinstance(err.value, pickle.UnpicklingError)
        assert not osp.exists(marker), name


def test_unreadable_checkpoint_names_the_file(data_root, tmp_path):
    """A truncated checkpoint, given as ``load_from`` or to ``init_from``,
    fails with an error naming the file; a missing one keeps mmengine's
    FileNotFoundError."""
    good = str(tmp_path / 'good.pth')
    torch.save({'state_dict': {'w': torch.ones(3)}}, good)
    truncated = str(tmp_path / 'truncated.pth')
    with open(good, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CheckpointLoadError,
                       match=f'{truncated}: not a readable torch checkpoint'):
        CheckpointLoader.load_checkpoint(truncated, map_location='cpu')
    cfg = tiny_cfg(BASELINE, str(tmp_path / 'work'), data_root, iters=1)
    cfg.model.init_from = dict(seg=dict(checkpoint=truncated))
    with pytest.raises(CheckpointLoadError, match='truncated.pth'):
        Runner.from_cfg(cfg).train()
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))


def test_only_history_buffer_statistics_pass_the_getattr_stand_in(tmp_path):
    """``builtins.getattr`` in a pickle resolves to the stand-in, which
    gives HistoryBuffer's statistics methods and nothing else."""
    path = str(tmp_path / 'registry.pth')
    torch.save({'payload': ReachesRegistry()}, path)
    with pytest.raises(pickle.UnpicklingError,
                       match="getattr.*'register_statistics'.*not allowed"):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    for owner, name in ((HistoryBuffer, '__init__'), (torch, 'load'),
                        (HistoryBuffer(), 'min')):
        with pytest.raises(pickle.UnpicklingError):
            history_buffer_method(owner, name)
    assert history_buffer_method(HistoryBuffer, 'mean') is HistoryBuffer.mean


def test_numpy_1_array_names_load():
    """Files written with numpy 1 name ``numpy.core.multiarray``."""
    buf = io.BytesIO()
    torch.save({'a': np.arange(3.0), 's': np.float64(2.5)}, buf,
               _use_new_zipfile_serialization=False)
    new = b'numpy._core.multiarray'
    assert buf.getvalue().count(new) == 2
    old = buf.getvalue().replace(new, b'numpy.core.multiarray')
    state = torch.load(io.BytesIO(old), weights_only=True)
    np.testing.assert_array_equal(state['a'], [0., 1., 2.])
    assert state['s'] == 2.5
