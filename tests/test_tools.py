"""The command-line tools, run as a user would (mmseg usage)."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from runner_utils import ROOT, TINY_SEARCH, generate_data


def _tool(name, *args):
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', *name.split('/')), *args],
        cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.timeout(900)
def test_train_derive_visualize_test(tmp_path):
    data = generate_data(str(tmp_path / 'data'), num_train=4, num_test=2)
    work = str(tmp_path / 'work')
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=2'
    ]
    _tool('train.py', TINY_SEARCH, '--work-dir', work, *options)
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    arch = str(tmp_path / 'arch.json')
    out = _tool('analysis_tools/derive_arch.py', TINY_SEARCH, ckpt, '--out',
                arch)
    assert 'edges kept' in out and osp.isfile(arch)
    _tool('analysis_tools/visualize_arch.py', arch, '--history',
          osp.join(work, 'arch', 'gate_history.jsonl'), '--out-dir',
          str(tmp_path / 'pics'))
    for pic in ('architecture.png', 'gate_curves.png'):
        assert osp.getsize(str(tmp_path / 'pics' / pic)) > 1000
    metrics_file = str(tmp_path / 'metrics.json')
    preds_file = str(tmp_path / 'preds.pkl')
    _tool('test.py', TINY_SEARCH, ckpt, '--arch', arch, '--work-dir', work,
          '--metrics-out', metrics_file, '--out', preds_file, *options)
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert {'mIoU', 'aAcc', 'mean', 'median', 'within_30'} <= set(metrics)
    # --out: the predictions of every test image (mmengine's DumpResults)
    from mmengine.fileio import load
    preds = load(preds_file)
    assert len(preds) == 2
    assert {'pred_sem_seg', 'pred_normal_map'} <= set(preds[0])


def test_tools_name_missing_files(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), TINY_SEARCH,
         str(tmp_path / 'nope.pth')], cwd=ROOT, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode != 0
    assert 'checkpoint file' in proc.stderr and 'nope.pth' in proc.stderr


def test_demo_never_writes_into_a_data_root_it_did_not_create(tmp_path):
    """A real data set lacking the generated lists (here: a fake NYUv2
    copy) is refused with a message; every file there stays untouched."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'demo', osp.join(ROOT, 'tools', 'demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    real = tmp_path / 'nyu_v2'
    (real / 'list').mkdir(parents=True)
    lists = {'list/training_seg.txt': 'img/1.png label/1.png\n',
             'list/testing_seg.txt': 'img/2.png label/2.png\n'}
    for name, text in lists.items():
        (real / name).write_text(text)
    before = sorted(p.relative_to(real) for p in real.rglob('*'))
    with pytest.raises(SystemExit, match='not created by the demo'):
        demo.ensure_data(str(real), 2, 1)
    assert sorted(p.relative_to(real) for p in real.rglob('*')) == before
    for name, text in lists.items():
        assert (real / name).read_text() == text


def test_compare_seeds_mean_and_std_by_hand():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'compare_seeds',
        osp.join(ROOT, 'tools', 'analysis_tools', 'compare_seeds.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    runs = {'a': [dict(mIoU=10.0, mean=30.0), dict(mIoU=14.0, mean=32.0),
                  dict(mIoU=12.0, mean=31.0)],
            'b': [dict(mIoU=20.0, mean=20.0), dict(mIoU=20.0, mean=22.0),
                  dict(mIoU=23.0, mean=21.0)]}
    summary = tool.summarize(runs)
    assert summary['a']['mIoU'] == dict(mean=12.0, std=2.0, n=3)
    assert summary['b']['mIoU']['mean'] == pytest.approx(21.0)
    assert summary['b']['mIoU']['std'] == pytest.approx(3 ** 0.5)
    text = tool.table(summary)
    assert '| a | 12.00 +- 2.00 | 31.00 +- 1.00 |' in text
    assert 'n=3 seeds' in text


def test_set_weight_lr_plain_and_bilevel_configs():
    """The demo's stage-2 lr reaches the weight optimizer of a baseline and
    of a search, and leaves the architecture optimizer and the lr
    multipliers (fusion ops x100) alone."""
    import copy

    from mmengine.config import Config

    from mtlnas_mm.utils import set_weight_lr
    search = Config.fromfile(osp.join(ROOT, TINY_SEARCH))
    arch_lr = search.optim_wrapper.arch.optimizer.lr
    mults = copy.deepcopy(search.optim_wrapper.weight.paramwise_cfg)
    set_weight_lr(search, 1e-3)
    assert search.optim_wrapper.weight.optimizer.lr == 1e-3
    assert search.optim_wrapper.arch.optimizer.lr == arch_lr != 1e-3
    assert search.optim_wrapper.weight.paramwise_cfg == mults
    assert mults.custom_keys['backbone.edges']['lr_mult'] == 100
    nddr = Config.fromfile(
        osp.join(ROOT, 'configs/baselines/nddr_vgg-tiny_synthetic.py'))
    set_weight_lr(nddr, 3e-4)
    assert nddr.optim_wrapper.optimizer.lr == 3e-4
    assert nddr.optim_wrapper.paramwise_cfg.custom_keys[
        'backbone.edges']['lr_mult'] == 100


def test_output_dirs_are_claimed_never_taken(tmp_path):
    """Tools write only into directories they created (or empty ones, then
    marked): a user's folder is refused with nothing written; a directory a
    tool created before is reused (resume)."""
    import os

    from mtlnas_mm.utils import OUTPUT_MARKER, claim_output_dir
    new = tmp_path / 'new' / 'out'
    claim_output_dir(str(new), 'tool')
    assert (new / OUTPUT_MARKER).is_file()
    (new / 'result.json').write_text('{}')
    claim_output_dir(str(new), 'tool')  # its own output: reused
    assert (new / 'result.json').read_text() == '{}'
    user = tmp_path / 'docs'
    user.mkdir()
    (user / 'notes.md').write_text('mine')
    with pytest.raises(SystemExit, match='not created by a mtlnas_mm tool'):
        claim_output_dir(str(user), 'tool')
    assert os.listdir(user) == ['notes.md']
    assert (user / 'notes.md').read_text() == 'mine'
    empty = tmp_path / 'empty'
    empty.mkdir()
    claim_output_dir(str(empty), 'tool')
    assert (empty / OUTPUT_MARKER).is_file()
    afile = tmp_path / 'afile'
    afile.write_text('x')
    with pytest.raises(SystemExit, match='not a directory'):
        claim_output_dir(str(afile), 'tool')
