"""tools/analysis_tools/share_routing_dense.py: the share-routing search
from a trained pair, its derived routes evaluated as searched and
retrained, delta_m against the demo's pair continued."""
import json
import os
import os.path as osp

import pytest
import torch

from mtlnas_mm.structures import RouteArchitecture
from runner_utils import generate_data, load_tool, tiny_cfg

pytestmark = pytest.mark.usefixtures('mmseg_scope')
SINGLE = 'configs/baselines/single-task_vgg-tiny_synthetic.py'


def _arch(routes):
    keys = ['1.0', '1.1', 'seg', 'normal']
    return RouteArchitecture(('seg', 'normal'), 2, 2,
                             routes=dict(zip(keys, routes)),
                             queries={k: 'own' for k in keys})


def test_cross_routes_counts_the_blocks_reading_another_task(tmp_path):
    tool = load_tool('tools/analysis_tools/share_routing_dense.py')
    for routes, expected in (([[0], [1], [0], [1]], 0),  # the pair
                             ([[0, 1], [1], [0], [1]], 1),
                             ([[1], [0], [0, 1], [0]], 4)):
        path = str(tmp_path / f'arch{expected}.json')
        _arch(routes).dump(path)
        assert tool.cross_routes(path) == expected


@pytest.mark.slow
def test_tool_searches_retrains_and_reuses(tmp_path):
    """One seed at 2 iterations: both rows trained from the pair and
    tested, the retrained network built on the search's derived routes,
    delta_m against the reference row of the demo file (0 for itself);
    a second call reads the finished seed instead of training again."""
    from mmengine.config import Config

    from mmseg.registry import MODELS
    data = generate_data(str(tmp_path / 'data'), num_train=4, num_test=2)
    pair_dir = tmp_path / 'demo_s0' / 'single-task'
    pair_dir.mkdir(parents=True)
    torch.manual_seed(0)
    pair = MODELS.build(tiny_cfg(SINGLE, str(tmp_path / 'p'), data, 1).model)
    pair.init_weights()
    torch.save({'state_dict': pair.state_dict()},
               str(pair_dir / 'iter_10.pth'))
    reference = {'mIoU': 20.0, 'aAcc': 80.0, 'mean': 30.0, 'median': 25.0,
                 'rmse': 35.0, 'within_11.25': 10.0, 'within_22.5': 30.0,
                 'within_30': 50.0}
    with open(tmp_path / 'demo_s0' / 'results.json', 'w') as f:
        json.dump(dict(results={'single-task (10 + 2 it)': reference}), f)
    tool = load_tool('tools/analysis_tools/share_routing_dense.py')
    work = str(tmp_path / 'dense')
    argv = ['--work-dir', work, '--seeds', '0', '--iters', '2',
            '--stage1-iters', '10', '--data-root', data,
            '--stage1-from', str(tmp_path / 'demo_s{seed}' / 'single-task'),
            '--reference', str(tmp_path / 'demo_s{seed}' / 'results.json')]
    result = tool.main(argv)
    summary = result['summary']
    assert list(summary) == ['single-task pair (10 + 2 it)', *tool.ROWS]
    assert summary['single-task pair (10 + 2 it)']['delta_m']['mean'] == 0
    for row in tool.ROWS:
        m = result['runs'][row][0]
        assert 0 <= m['mIoU'] <= 100
        assert m['delta_m/seg'] == pytest.approx(
            ((m['mIoU'] - 20) / 20 + (m['aAcc'] - 80) / 80) / 2 * 100)
    arch_file = osp.join(work, 'seed0', 'search', 'arch', 'arch_final.json')
    retrain_cfg = Config.fromfile(osp.join(
        work, 'seed0', 'retrain',
        'share-routing_vgg-tiny_synthetic_retrain.py'))
    assert retrain_cfg.model.backbone.architecture == arch_file
    assert retrain_cfg.model.init_from.seg.checkpoint.endswith('iter_10.pth')
    ckpts = [osp.join(work, 'seed0', run, 'iter_2.pth')
             for run in ('search', 'retrain')]
    stamps = [os.stat(p).st_mtime_ns for p in ckpts]
    assert tool.main(argv)['runs'] == result['runs']
    assert stamps == [os.stat(p).st_mtime_ns for p in ckpts]
