"""tools/analysis_tools/benchmark.py and benchmark_scaling.py, and their
library mtlnas_mm.analysis: the JSON the benchmark writes (schema, the FLOP
floor's arithmetic, the targets), the official comparison on a user's
checkout of bhpfelix/MTLNAS (only where ``MTLNAS_OFFICIAL_ROOT`` names
one), and the scaling tool's task sets, FLOP count and FLOP law
(``mtlnas_mm.analysis.scaling``).  No assertion on a timing: only on how
the figures relate."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mtlnas_mm.analysis import cases, official, report, scaling, timing
from runner_utils import ROOT, load_tool

TOOLS = osp.join(ROOT, 'tools', 'analysis_tools')
benchmark = load_tool('tools/analysis_tools/benchmark.py')

TINY = ['--backbone', 'vgg-tiny', '--size', '32', '40', '--repeats', '1',
        '--warmup', '0', '--threads', '1']
OFFICIAL_TARGETS = ('search_iter_speedup_vs_official',
                    'search_mem_vs_official')


@pytest.fixture(scope='module')
def tiny_result(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench')
    threads = torch.get_num_threads()
    try:
        result = benchmark.main(TINY + ['--out', str(out / 'b.json'),
                                        '--markdown', str(out / 'b.md')])
    finally:
        torch.set_num_threads(threads)
    with open(out / 'b.json') as f:
        written = json.load(f)
    with open(out / 'b.md') as f:
        table = f.read()
    return result, written, table


def test_benchmark_json_schema(tiny_result):
    """Every case, its figures and types; the search iteration's two steps
    are parts of the same timed call; the JSON file is the result."""
    result, written, _ = tiny_result
    assert written == json.loads(json.dumps(result))
    m = result['machine']
    assert isinstance(m['cpu_model'], str) and m['device'] == 'cpu'
    assert m['torch_threads'] == 1 and isinstance(m['cpu_usable'], int)
    assert result['settings']['backbone'] == 'vgg-tiny'
    res = result['results']
    assert set(res) == {'train', 'infer', 'floor'}
    assert set(res['train']) == {'single', 'nddr', 'search_iter'}
    assert set(res['infer']) == {'single', 'nddr', 'derived', 'supernet'}
    for kind in ('train', 'infer'):
        for name, r in res[kind].items():
            assert r['median_s'] > 0 and len(r['times_s']) == 1, name
            assert r['peak_mib'] > r['state_mib'] > 0, name
            assert r['fwd_gflops'] > 0 and r['executed_gflops'] > 0, name
            assert r['images_per_s'] == pytest.approx(2 / r['median_s'])
    it = res['train']['search_iter']
    phases = {p: it['phases'][p]['median_s'] for p in ('arch', 'weight')}
    assert all(v > 0 for v in phases.values())
    assert sum(phases.values()) <= it['median_s']
    # training executes backward kernels, inference only forward ones
    assert it['executed_gflops'] > 2 * it['fwd_gflops']
    infer = res['infer']['single']
    assert infer['executed_gflops'] == pytest.approx(infer['fwd_gflops'],
                                                     rel=0.05)
    assert res['infer']['derived']['kept'] == 4
    assert res['infer']['supernet']['edges'] == 48
    assert set(result['vs_single']) == {
        f'{k}:{n}' for k in ('train', 'infer') for n in res[k]}
    assert 'official' not in res and 'vs_official' not in result


def test_benchmark_floor_arithmetic(tiny_result):
    """The conv micro-benchmark counts 3 forwards of FLOPs (as
    FlopCounterMode counts what it ran); the iteration's work is
    5 F + F_fuse of the profiled forward FLOPs; floor = work /
    throughput."""
    result, _, _ = tiny_result
    res, floor = result['results'], result['floor']
    conv = res['floor']['conv3x3']
    assert conv['convs'] == len(conv['shapes']) >= 5
    assert all(s['weight'][2:] == [3, 3] for s in conv['shapes'])
    assert conv['executed_gflops'] == pytest.approx(conv['work_gflops'],
                                                    rel=1e-6)
    thr = floor['conv3x3_gflops_per_s']
    assert thr == pytest.approx(conv['work_gflops'] / conv['median_s'])
    f = res['train']['search_iter']['fwd_gflops'] / 2
    f1 = res['train']['single']['fwd_gflops']
    ours = floor['mtlnas_mm']
    work = ours['work_gflops']
    assert work['fusion_forward'] == pytest.approx(f - f1)
    assert work['arch_step'] == pytest.approx(2 * f + (f - f1))
    assert work['weight_step'] == pytest.approx(3 * f)
    assert work['search_iter'] == pytest.approx(5 * f + (f - f1))
    assert work['single_step'] == pytest.approx(3 * f1)
    for step in ('arch_step', 'weight_step', 'search_iter', 'single_step'):
        assert ours['floor_s'][step] == pytest.approx(work[step] / thr)
    assert ours['measured_vs_floor']['search_iter'] == pytest.approx(
        res['train']['search_iter']['median_s'] / ours['floor_s'][
            'search_iter'])
    assert floor['inference']['derived']['floor_s'] == pytest.approx(
        res['infer']['derived']['fwd_gflops'] / thr)


def test_benchmark_targets(tiny_result):
    """Each speed and memory target with its value, limit and a pass / fail
    boolean that agrees with them; the official ones are not judged
    without --official-root; the markdown prints every target."""
    result, _, table = tiny_result
    res, targets = result['results'], result['targets']
    assert set(targets) == {t[0] for t in report.TARGETS}
    for name, t in targets.items():
        assert isinstance(t['description'], str)
        assert t['direction'] in ('<=', '>=')
        if name in OFFICIAL_TARGETS:
            assert t['value'] is None and t['passed'] is None
            continue
        assert isinstance(t['value'], float) and isinstance(t['passed'],
                                                            bool)
        ok = (t['value'] <= t['limit'] if t['direction'] == '<=' else
              t['value'] >= t['limit'])
        assert t['passed'] == ok, name
    f = res['train']['search_iter']['fwd_gflops'] / 2
    weight = targets['weight_step_vs_single_step']
    assert weight['limit'] == pytest.approx(
        f / res['train']['single']['fwd_gflops'])
    assert weight['value'] == pytest.approx(
        res['train']['search_iter']['phases']['weight']['median_s']
        / res['train']['single']['median_s'])
    derived = targets['derived_infer_vs_single']
    assert derived['limit'] == 1.13
    assert derived['value'] == pytest.approx(
        res['infer']['derived']['median_s']
        / res['infer']['single']['median_s'])
    for t in targets.values():
        assert t['description'] in table
    for line in report.target_lines(result):
        assert line.split()[2] in ('PASS', 'FAIL', 'n/a')


def test_phase_split_needs_the_marks():
    """A search case whose call marks no step phases is an error, not a
    split of zero."""
    clock = timing.PhaseClock(torch.device('cpu'))
    case = timing.Case('x', 'train', lambda: None, None, clock=clock)
    with pytest.raises(RuntimeError, match="set_step"):
        case.run(torch.device('cpu'), record=True)
    marks = timing.Case('y', 'train', lambda: [clock.mark('arch'),
                                               clock.mark('weight'),
                                               clock.mark(None)],
                        None, clock=clock)
    marks.run(torch.device('cpu'), record=True)
    assert set(marks.phase_times) == {'arch', 'weight'}


def test_search_cfg_options_reach_the_search_model():
    """--search-cfg-options changes the search config only (here its
    connectivity: fewer candidate edges) and is recorded."""
    threads = torch.get_num_threads()
    try:
        result = benchmark.main(TINY + [
            '--only', 'infer:supernet', '--search-cfg-options',
            'model.network.backbone.edges.connectivity.max_gap=1'])
    finally:
        torch.set_num_threads(threads)
    supernet = result['results']['infer']['supernet']
    assert 0 < supernet['edges'] < 48
    assert result['settings']['search_cfg_options'] == {
        'model.network.backbone.edges.connectivity.max_gap': 1}


def test_official_root_refused(tmp_path):
    """A missing directory or one that is not an MTL-NAS checkout stops
    the tool, before anything is built, naming the problem."""
    with pytest.raises(SystemExit, match='no such directory'):
        benchmark.main(TINY + ['--official-root', str(tmp_path / 'nope')])
    (tmp_path / 'core').mkdir()
    with pytest.raises(SystemExit, match='not a checkout.*supernet.py'):
        official.import_official(str(tmp_path))


def _official_root():
    root = os.environ.get('MTLNAS_OFFICIAL_ROOT')
    if not root:
        pytest.skip('MTLNAS_OFFICIAL_ROOT is not set (a checkout of '
                    'bhpfelix/MTLNAS, which CI does not have)')
    if not osp.isdir(root):
        pytest.skip(f'MTLNAS_OFFICIAL_ROOT={root} does not exist')
    try:
        import yacs  # noqa: F401
    except ImportError:
        pytest.skip('the official code needs yacs (pip install yacs)')
    return root


@pytest.mark.timeout(900)
def test_benchmark_official_checkout(tmp_path):
    """--official-root: the official search model of the checkout on the
    same shapes (same forward work as the project's), its two steps timed
    interleaved, its single-task pair, the ratios and judged targets."""
    root = _official_root()
    out = tmp_path / 'o.json'
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'benchmark.py'), '--backbone',
         'vgg16', '--size', '16', '24', '--repeats', '1', '--warmup', '0',
         '--threads', '1', '--official-root', root, '--only',
         'train:search_iter', 'train:single', 'official:search_iter',
         'official:single', 'floor:conv3x3', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    off, ours = result['results']['official'], result['results']['train']
    assert off['search_iter']['model'] == 'GeneralizedMTLNASNet'
    assert off['single']['model'] == 'SingleTaskNet'
    assert off['search_iter']['edges'] == ours['search_iter']['edges'] == 48
    assert set(off['search_iter']['phases']) == {'arch', 'weight'}
    for name in ('search_iter', 'single'):
        # the same networks on the same shapes: the same forward work
        assert off[name]['fwd_gflops'] == pytest.approx(
            ours[name]['fwd_gflops'], rel=0.02)
        assert off[name]['peak_mib'] > off[name]['state_mib'] > 0
    # the official architecture step computes every weight gradient too
    assert off['search_iter']['executed_gflops'] > \
        ours['search_iter']['executed_gflops']
    vs = result['vs_official']
    assert vs['comparable'] is True
    assert vs['search_iter'] == pytest.approx(
        ours['search_iter']['median_s'] / off['search_iter']['median_s'])
    for name in OFFICIAL_TARGETS:
        assert isinstance(result['targets'][name]['passed'], bool)
    assert 'official' in result['floor']


# ----------------------------------------------------------------------
# the scaling tool
# ----------------------------------------------------------------------
def test_scaling_task_sets(mmseg_scope):
    """2 / 3 / 5 tasks: the config's seg + normals, the depth head of the
    shipped three-task config (with the backbone's decoder widths), then
    copies under new names; the search space builds T (T - 1) x 24
    candidate edges."""
    assert scaling.task_names(5) == ['seg', 'normal', 'depth', 'seg_b',
                                     'normal_b']
    with pytest.raises(ValueError, match='>= 2 tasks'):
        scaling.task_names(1)
    three = scaling.scaled_config('vgg-tiny', 3).model.network
    shipped = cases.load_cfg(scaling.DEPTH_CONFIG).model.network
    assert three.tasks.to_dict() == shipped.tasks.to_dict()
    big = scaling.scaled_config('vgg16', 3).model.network.tasks
    assert big.depth.head.decoder.in_channels == 512
    assert big.depth.head.decoder.num_classes == 1
    cfg = scaling.scaled_config('vgg-tiny', 5)
    model = cases.build_model(cfg.model, torch.device('cpu'))
    assert len(model.search_space.edges) == 5 * 4 * 24
    assert list(model.network.heads) == scaling.task_names(5)


def test_scaling_flop_count_is_exact(mmseg_scope):
    """The FLOP model's count on fake tensors equals FlopCounterMode's
    count of a real forward."""
    from torch.utils.flop_counter import FlopCounterMode
    cfg = scaling.scaled_config('vgg-tiny', 3)
    model = cases.build_model(cfg.model, torch.device('cpu'))
    model.set_step('arch')
    shape = (1, 3, 32, 48)
    counted = scaling.forward_flops(model, shape)
    assert counted['method'] == 'FlopCounterMode on fake tensors'
    with torch.no_grad(), FlopCounterMode(display=False) as real:
        model(torch.zeros(shape), mode='tensor')
    assert counted['gflops'] == pytest.approx(real.get_total_flops() / 1e9)


def _law_point(t, c=10.0, a=1.0, b=2.0, crop=128):
    work = cases.iteration_work(t * c + t * (a + b * (t - 1)), t * c)
    return dict(name=f'x:{t}:{crop}', backbone='x', tasks=t, crop=crop,
                work_gflops=work)


def test_scaling_fusion_law():
    """Points made by F_1 = T c, F_fuse = T (a + b (T - 1)) give back
    a, b, c, and the task count from which the fusion part (6 F_fuse of
    5 F_1 + 6 F_fuse) is more than half of the iteration's work."""
    law = scaling.fusion_law([_law_point(t) for t in (2, 3, 5)], 'x')
    assert law['per_column_single_gflops'] == pytest.approx(10.0)
    assert law['fusion_own_gflops'] == pytest.approx(1.0)
    assert law['fusion_per_other_task_gflops'] == pytest.approx(2.0)
    share = law['iteration_fusion_share']
    # by hand: 6 (1 + 2 (T - 1)) > 5 * 10  <=>  T > 4.67
    assert share['4'] < 0.5 < share['5']
    assert law['fusion_dominates_from_tasks'] == 5
    # F_fuse > F_1  <=>  1 + 2 (T - 1) > 10  <=>  T > 5.5
    assert law['forward_fusion_dominates_from_tasks'] == 6
    assert all(abs(r) < 1e-9 for r in law['residuals'].values())


def test_scaling_predictions_scale_from_the_measured_points():
    """The FLOP model divides the work by the reference point's conv
    throughput; memory: state by the parameters, activations by the padded
    pixels (same T) or by T and pixels (a new T)."""
    ref = dict(_law_point(2), measured=True, median_s=3.0, params=100,
               input_shape=[2, 3, 128, 128], conv3x3_gflops_per_s=50.0,
               state_mib=10.0, peak_above_state_mib=40.0)
    bigger = dict(_law_point(2, crop=256), params=100,
                  input_shape=[2, 3, 256, 256])
    more = dict(_law_point(4), params=300, input_shape=[2, 3, 128, 128])
    pts = [ref, bigger, more]
    p = scaling.predict(bigger, pts)
    assert p['reference'] == 'x:2:128'
    assert p['flop_model_s'] == pytest.approx(
        bigger['work_gflops']['search_iter'] / 50.0)
    floor_ref = ref['work_gflops']['search_iter'] / 50.0
    assert p['expected_s'] == pytest.approx(p['flop_model_s'] * 3.0
                                            / floor_ref)
    assert p['expected_peak_mib'] == pytest.approx(10.0 + 40.0 * 4)
    q = scaling.predict(more, pts)
    assert q['expected_peak_mib'] == pytest.approx(10.0 * 3 + 40.0 * 2)


def test_scaling_skip_rules_and_merge(tmp_path):
    """A point is skipped for each prediction above its limit, the child's
    timeout follows the prediction (an hour without one), and --merge
    keeps a later run's measured point over an earlier plan, recomputing
    the predictions it drops."""
    pred = dict(expected_peak_mib=2000.0, expected_s=30.0)
    assert scaling.skip_reasons(pred, 4096, 120) == []
    reasons = scaling.skip_reasons(pred, 1024, 10)
    assert len(reasons) == 2 and '--max-mib 1024' in reasons[0]
    assert '--max-iter-s 10' in reasons[1]
    assert scaling.child_timeout(None, 1, 1) == 3600.0
    assert scaling.child_timeout(pred, 1, 1) == 8 * 30.0 * 6
    assert scaling.child_timeout(dict(expected_s=0.1), 1, 1) == 600.0
    measured = dict(_law_point(2), measured=True, median_s=3.0, params=100,
                    input_shape=[2, 3, 128, 128], conv3x3_gflops_per_s=50.0,
                    state_mib=10.0, peak_above_state_mib=40.0, edges=48)
    planned = dict(_law_point(2), measured=False, skipped='--dry-run',
                   params=100, input_shape=[2, 3, 128, 128], edges=48,
                   flop_model_s=-1.0)
    for name, point in (('a.json', planned), ('b.json', measured)):
        with open(tmp_path / name, 'w') as f:
            json.dump(dict(settings=dict(file=name), points=[point],
                           fusion={}, skipped={}), f)
    merged = scaling.merge([str(tmp_path / 'a.json'),
                            str(tmp_path / 'b.json')])
    assert [r['file'] for r in merged['runs']] == ['a.json', 'b.json']
    (point, ) = merged['points']
    assert point['measured'] and point['run'] == 1
    assert point['flop_model_s'] == pytest.approx(
        point['work_gflops']['search_iter'] / 50.0)
    assert merged['skipped'] == {}


def test_thread_clock_needs_one_cpu_thread():
    """--clock thread times the calling thread's CPU time: a busy loop
    counts, a sleep does not; more than one torch thread is refused."""
    import time
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pytest.raises(ValueError, match='needs --device cpu and '
                           '--threads 1'):
            timing.set_clock('thread', torch.device('cpu'))
        torch.set_num_threads(1)
        timing.set_clock('thread', torch.device('cpu'))
        cpu = torch.device('cpu')
        assert timing.timed(lambda: time.sleep(0.2), cpu) < 0.05
        busy = timing.timed(lambda: sum(range(3_000_000)), cpu)
        assert busy > 0.01
    finally:
        timing.set_clock('wall', torch.device('cpu'))
        torch.set_num_threads(threads)
    assert timing.timed(lambda: time.sleep(0.2), torch.device('cpu')) \
        >= 0.2
