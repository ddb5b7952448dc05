"""The command-line tools, run as a user would (mmseg usage)."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from runner_utils import ROOT, TINY_SEARCH, generate_data, load_tool


def _tool(name, *args):
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', *name.split('/')), *args],
        cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
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


@pytest.mark.slow
def test_tools_name_missing_files(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), TINY_SEARCH,
         str(tmp_path / 'nope.pth')], cwd=ROOT, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode != 0
    assert 'checkpoint file' in proc.stderr and 'nope.pth' in proc.stderr


def test_compare_seeds_mean_and_std_by_hand():
    tool = load_tool('tools/analysis_tools/compare_seeds.py')
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


def _arch_with_layer(path, layer):
    """A fusion-edge architecture file whose one edge uses ``layer``."""
    from mtlnas_mm.structures import Architecture, Edge
    edge = Edge('normal', layer, 'seg', layer)
    Architecture([edge], [edge]).dump(path)
    return path


def test_visualize_arch_checks_the_file_against_the_config(tmp_path,
                                                            capsys):
    """With --config the file must be an architecture of that config's
    search space (the tiny VGG has 13 layers); without it the tool says
    the file was not checked."""
    tool = load_tool('tools/analysis_tools/visualize_arch.py')
    bad = _arch_with_layer(str(tmp_path / 'bad.json'), 41)
    with pytest.raises(ValueError, match='bad.json: edge seg.41->normal.41 '
                       'uses layer 41 of 13'):
        tool.main([bad, '--config', TINY_SEARCH, '--out-dir',
                   str(tmp_path / 'bad_pics')])
    assert not osp.exists(tmp_path / 'bad_pics')
    tool.main([bad, '--out-dir', str(tmp_path / 'pics')])
    assert 'not checked against a search space' in capsys.readouterr().err


def test_summarize_demo_mean_and_std_by_hand(tmp_path):
    """Rows matched by name across seeds, the random row whatever its edge
    count; mean and sample std by hand."""
    import json
    tool = load_tool('tools/analysis_tools/summarize_demo.py')
    files = []
    for seed, (miou, kept) in enumerate([(10.0, 3), (14.0, 5)]):
        results = {'single-task': dict(mIoU=miou, delta_m=0.0),
                   f'random {kept} edges': dict(mIoU=miou - 2, delta_m=-1.0)}
        arch = dict(candidate_edges=['a', 'b', 'c', 'd', 'e', 'f'],
                    kept_edges=['a'] * kept)
        path = tmp_path / f'results{seed}.json'
        path.write_text(json.dumps(dict(results=results, architecture=arch)))
        files.append(str(path))
    out = tool.main(files + ['--out', str(tmp_path / 'summary.json')])
    rand = out['summary']['random architecture, same size']
    assert rand['mIoU'] == dict(mean=10.0, std=pytest.approx(8 ** 0.5), n=2)
    assert out['kept_edges'] == [3, 5]
    with pytest.raises(FileExistsError, match='summary.json exists'):
        tool.main(files + ['--out', str(tmp_path / 'summary.json')])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_end_to_end_and_reusing_its_stage1(tmp_path):
    """The demo's whole path on a few generated images (2 iterations per
    run): every row, the random draws, the exported architecture rebuilt
    to the same metrics; a second run from the first one's single-task pair
    (``--stage1-from``) reports the same stage-1 row and writes nothing
    into the first run."""
    demo = load_tool('tools/demo.py')
    data = generate_data(str(tmp_path / 'data'), num_train=6, num_test=3)
    common = ['--data-root', data, '--iters', '2', '--stage2-iters', '2',
              '--seed', '0']
    first = demo.main(['--work-dir', str(tmp_path / 'first'), *common,
                       '--random-draws', '2'])
    rows = list(first)
    assert rows[:2] == ['single-task (2 it)', 'single-task (2 + 2 it)']
    assert sum(r.startswith('random ') for r in rows) == 2
    with open(tmp_path / 'first' / 'results.json') as f:
        saved = json.load(f)
    derived = saved['results']['MTL-NAS derived (alpha>0, no retraining)']
    for key, value in saved['fixed_rebuild'].items():
        assert value == pytest.approx(derived[key], abs=1e-9), key

    # an interrupted run continued: nothing is trained again, same rows
    ckpts = {p: p.stat().st_mtime_ns
             for p in (tmp_path / 'first').glob('*/iter_2.pth')}
    assert len(ckpts) == 6  # pair, continued, NDDR, search, 2 random
    again = demo.main(['--work-dir', str(tmp_path / 'first'), *common,
                       '--random-draws', '2', '--resume'])
    # (json: the nan of a delta_m against a zero baseline compares equal)
    assert json.dumps(again, sort_keys=True) == json.dumps(first,
                                                          sort_keys=True)
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts

    stage1 = tmp_path / 'first' / 'single-task'
    before = sorted(p.name for p in stage1.iterdir())
    # (with the identity start and x10 fusion lr: every stage-2 loop runs
    # with FusionIdentityStartHook and the option's multiplier)
    second = demo.main(['--work-dir', str(tmp_path / 'second'), *common,
                        '--stage1-from', str(stage1), '--identity-start',
                        '--fusion-lr-mult', '10'])
    assert second['single-task (2 it)']['mIoU'] == \
        first['single-task (2 it)']['mIoU']
    assert sorted(p.name for p in stage1.iterdir()) == before
    assert not (tmp_path / 'second' / 'single-task' / 'iter_2.pth').exists()
    with pytest.raises(FileNotFoundError, match='iter_2.pth'):
        demo.main(['--work-dir', str(tmp_path / 'third'), *common,
                   '--stage1-from', str(tmp_path / 'second')])
    assert not (tmp_path / 'third').exists()
