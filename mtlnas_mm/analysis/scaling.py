"""How the MTL-NAS search iteration grows with the number of tasks and the
crop size: the library of ``tools/analysis_tools/benchmark_scaling.py``
(the points, their FLOP count, the measurement of one point, the cost
model's predictions, the fusion law, the summary, the plot and
``--merge``).

**The points.**  Every backbone x task count x crop (``crop x crop``
images, a batch of them; the data preprocessor pads them to its
``size_divisor``, 321 -> 328).  The network of a point is the backbone's
MTL-NAS search config (:data:`~mtlnas_mm.analysis.cases.CONFIGS`) with
``T`` tasks (:func:`scaled_config`): seg and normals (the config's own),
then ``depth`` (the head of :data:`DEPTH_CONFIG` with the widths and fc6
dilation of the backbone's normal decoder), then copies of the seg, normal
and depth heads under new names (``seg_b``, ``normal_b``, ``depth_b``, ...;
they read the ground truth of their kind: a head's cost depends on its
shapes, not on its labels).  ``FusionEdges`` builds the candidate edges of
every ordered task pair: ``T (T - 1) x 24``.

**One point** (:func:`measure_point`, run in a fresh process by
:func:`run_point` so that its peak RSS is the point's): the model and its
``BilevelOptimWrapperConstructor`` optimizers, ``warmup`` untimed and
``repeats`` timed search iterations (``MTLNAS.train_step``, split into the
architecture and the weight step as in ``benchmark.py``), one profiled
iteration for the peak memory (both
:func:`~mtlnas_mm.analysis.cases.measure_search`) and the conv throughput
at the point's shapes (:func:`~mtlnas_mm.analysis.cases.conv_floor_case`).

**The FLOP model.**  For every point, measured or not, the forward FLOPs
are counted exactly without computing anything (:func:`count_points`,
:func:`forward_flops`: ``torch.utils.flop_counter.FlopCounterMode`` on fake
tensors, ``torch._subclasses.FakeTensorMode``; a real ``no_grad`` forward
if that fails): ``F`` of the search network, ``F_1`` of the same ``T``
columns without edges, ``F_fuse = F - F_1``; the iteration's work is
:func:`~mtlnas_mm.analysis.cases.iteration_work` (``5 F + F_fuse``) and
the predicted time ``work / conv3x3 throughput`` of the backbone's
reference point (its smallest measured point), i.e. the FLOP floor
extrapolated (:func:`predict`).  Per column the forward work is
``F_1 / T = c`` and ``F_fuse / T = a + b (T - 1)`` (each fusion node
convolves its own feature and, per other task, its candidate sources:
linear in ``T - 1``), fitted by least squares over the counted task counts
(:func:`fusion_law`); the fusion part of an iteration, ``6 F_fuse`` of
``5 F_1 + 6 F_fuse``, dominates (> 1/2) from
``T > 1 + (5 c / 6 - a) / b`` on (``fusion_dominates_from_tasks``).

**The predictions for skipping** (:func:`predict`, :func:`skip_reasons`).
Memory: state (parameters, gradients, optimizer state) of the nearest
measured point scaled by the parameter count, activations of the largest
measured smaller crop with the same ``T`` scaled by the padded pixels
(else the reference point's, scaled by ``T`` and the pixels); time: the
FLOP model times the reference point's measured / floor ratio.

**Merging** (:func:`merge`): the records of several runs joined (later
runs' measured points replace earlier ones), the predictions and the
summary recomputed, so the large points can be measured separately when
the machine is idle.
"""
import contextlib
import copy
import gc
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from ..models.layers.conv1x1 import conv1x1_backend
from ..structures import ARCH_STEP
from ..utils import write_json_report
from .cases import (CONFIGS, REPO, build_model, conv3x3_inventory,
                    conv_floor_case, iteration_work, load_cfg, make_batch,
                    measure_search, recipe_entropy_weight,
                    search_optim_wrappers, split_search_steps)
from .runs import MeasurementError, read_runs, run_child
from .timing import PHASES, PhaseClock, count_params

#: the config that defines the depth task's head
DEPTH_CONFIG = 'configs/mtlnas/mtlnas_vgg-tiny_synthetic_seg-normal-depth.py'
#: heads copied for tasks beyond seg, normal, depth (in this order)
COPIED = ('seg', 'normal', 'depth')
#: decoder keys that follow the backbone (the rest is the depth head's)
WIDTH_KEYS = ('in_channels', 'channels', 'fc6_dilation')
DEFAULT_TASKS = (2, 3, 5)
DEFAULT_CROPS = (128, 256, 321)
DEFAULT_BACKBONES = ('vgg-tiny', 'vgg16')
#: keys :func:`predict` / :func:`summarise` add (recomputed by a merge)
PREDICTED = ('flop_model_s', 'expected_s', 'expected_peak_mib',
             'memory_basis', 'reference', 'reference_gflops_per_s',
             'measured_vs_flop_model', 'measured_vs_own_floor')
#: how the figures of a result were obtained (its ``method``)
METHOD = ('per point a fresh process: median of --repeats search '
          'iterations after --warmup; peak_mib: '
          'mtlnas_mm.analysis.timing.profiled_run '
          '(CPU allocator events, second of two profiled iterations, '
          'plus the state alive at its start); peak_rss_mib: '
          'getrusage before the profiled runs; work: '
          'mtlnas_mm.analysis.cases.iteration_work of the counted '
          'forward FLOPs '
          '(FlopCounterMode: conv / matmul); flop_model_s: work / the '
          'reference point\'s measured conv3x3 throughput')


# ----------------------------------------------------------------------
# the points: tasks, configs, batches
# ----------------------------------------------------------------------
def task_names(num_tasks: int) -> List[str]:
    """``seg, normal, depth, seg_b, normal_b, depth_b, seg_c, ...``.

    Raises ``ValueError`` below two tasks (no multi-task search)."""
    if num_tasks < 2:
        raise ValueError(f'--tasks: a multi-task search needs >= 2 tasks, '
                         f'got {num_tasks}')
    names = ['seg', 'normal', 'depth']
    k = 0
    while len(names) < num_tasks:
        names.append(f'{COPIED[k % 3]}_{chr(ord("b") + k // 3)}')
        k += 1
    return names[:num_tasks]


def task_kind_of(name: str) -> str:
    """The head a task copies: ``'seg_b'`` -> ``'seg'``."""
    return name.split('_')[0]


def scaled_config(backbone: str, num_tasks: int) -> Config:
    """The backbone's search config with ``num_tasks`` tasks (module
    docstring, "The points")."""
    cfg = load_cfg(CONFIGS[backbone]['search'])
    tasks = cfg.model.network.tasks
    heads = {'seg': tasks['seg'].head, 'normal': tasks['normal'].head}
    depth = copy.deepcopy(load_cfg(DEPTH_CONFIG).model.network.tasks
                          .depth.head)
    # the depth decoder at the widths of this backbone's normal decoder
    normal = heads['normal'].decoder
    for key in WIDTH_KEYS:
        if key in normal:
            depth.decoder[key] = normal[key]
        else:
            depth.decoder.pop(key, None)
    heads['depth'] = depth
    new = {}
    for name in task_names(num_tasks):
        new[name] = dict(head=copy.deepcopy(heads[task_kind_of(name)]))
    cfg.model.network.tasks = new
    return cfg


def plain_network_config(cfg: Config) -> ConfigDict:
    """The same columns and heads without edges (``F_1``)."""
    net = copy.deepcopy(cfg.model.network)
    net.backbone.edges = None
    return net


def point_batch(cfg: Config, num_tasks: int, batch: int, crop: int) -> dict:
    """The synthetic batch of a point: ``batch`` images of ``crop x crop``
    with the ground truth of seg, normals and (from 3 tasks) depth."""
    num_classes = cfg.model.network.tasks.seg.head.num_classes
    return make_batch(batch, crop, crop, num_classes,
                      with_depth=num_tasks >= 3)


# ----------------------------------------------------------------------
# the FLOP model (no computation)
# ----------------------------------------------------------------------
def forward_flops(model: torch.nn.Module,
                  inputs_shape: Sequence[int]) -> dict:
    """Conv / matmul FLOPs of one training-mode forward at
    ``inputs_shape``: on fake tensors (nothing computed), else a real
    ``no_grad`` forward; ``dict(gflops, method)``."""
    model.train()
    # the 1x1 convs on torch's kernels: FlopCounterMode has no formula for
    # the oneDNN path's aten::mkldnn_convolution (same computation)
    with conv1x1_backend('torch'):
        return _forward_flops(model, inputs_shape)


def _forward_flops(model: torch.nn.Module,
                   inputs_shape: Sequence[int]) -> dict:
    from torch.utils.flop_counter import FlopCounterMode
    try:
        from torch._subclasses.fake_tensor import FakeTensorMode
        with FakeTensorMode(allow_non_fake_inputs=True):
            x = torch.empty(*inputs_shape)
            with FlopCounterMode(display=False) as counter:
                model(x, mode='tensor')
        method = 'FlopCounterMode on fake tensors'
    except Exception:  # noqa: BLE001 (fall back to computing)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(*inputs_shape), mode='tensor')
        method = 'FlopCounterMode, real no_grad forward'
    return dict(gflops=counter.get_total_flops() / 1e9, method=method)


def count_points(backbone: str, tasks: Sequence[int], crops: Sequence[int],
                 batch: int) -> List[dict]:
    """The FLOP model's inputs of every point of ``backbone``: name, task
    names, padded input shape, edges, parameters (search and plain) and
    the iteration's work (``work_gflops``)."""
    points = []
    for t in tasks:
        cfg = scaled_config(backbone, t)
        init_default_scope('mmseg')
        with contextlib.redirect_stdout(sys.stderr):
            search = build_model(cfg.model, torch.device('cpu'))
            plain = build_model(plain_network_config(cfg),
                                torch.device('cpu'))
        search.set_step(ARCH_STEP)  # sigmoid gates: the FLOPs of any mode
        for crop in crops:
            data = search.data_preprocessor(
                point_batch(cfg, t, batch, crop), True)
            shape = list(data['inputs'].shape)
            f = forward_flops(search, shape)
            f1 = forward_flops(plain, shape)
            points.append(dict(
                name=f'{backbone}:{t}:{crop}', backbone=backbone, tasks=t,
                task_names=task_names(t), crop=crop, batch=batch,
                input_shape=shape, edges=len(search.search_space.edges),
                params=count_params(search),
                params_single=count_params(plain),
                flops_method=f['method'],
                work_gflops=iteration_work(f['gflops'], f1['gflops'])))
        del search, plain
        gc.collect()
    return points


# ----------------------------------------------------------------------
# one point (in its own process)
# ----------------------------------------------------------------------
def measure_point(backbone: str, num_tasks: int, crop: int, batch: int,
                  repeats: int, warmup: int) -> dict:
    """Build the point's search model and measure its search iteration
    (in this process: its peak RSS is this point's)."""
    cpu = torch.device('cpu')
    cfg = scaled_config(backbone, num_tasks)
    init_default_scope('mmseg')
    model = build_model(cfg.model, cpu)
    model.set_regularizer_weight(recipe_entropy_weight(cfg))
    wrappers = search_optim_wrappers(cfg, f'{backbone} search')(model)
    clock = PhaseClock(cpu)
    split_search_steps(model, clock)
    base_batch = point_batch(cfg, num_tasks, batch, crop)
    measured = measure_search(model, wrappers, base_batch, repeats, warmup,
                              clock)
    case = measured['case']
    floor = conv_floor_case(conv3x3_inventory(model, base_batch), cpu)
    floor.run(cpu, record=False)
    for _ in range(repeats):
        floor.run(cpu, record=True)
    conv_s = statistics.median(floor.times)
    return dict(
        measured=True, median_s=statistics.median(case.times),
        times_s=case.times,
        phases_s={p: statistics.median(case.phase_times[p])
                  for p in PHASES},
        peak_rss_mib=measured['peak_rss_mib'],
        conv3x3_work_gflops=floor.info['work_gflops'],
        conv3x3_s=conv_s,
        conv3x3_gflops_per_s=floor.info['work_gflops'] / conv_s,
        **measured['memory'])


def run_point(tool: str, point: dict, repeats: int, warmup: int,
              threads: Optional[int], timeout_s: float) -> dict:
    """:func:`measure_point` of ``point`` in a fresh process (``python
    tool --child BACKBONE T CROP``, :func:`~.runs.run_child`); a failure
    or a timeout is a skipped point (``measured=False`` and why)."""
    started = time.time()
    try:
        rec = run_child(
            tool, [point['backbone'], str(point['tasks']),
                   str(point['crop'])], REPO, timeout_s,
            batch=point['batch'], repeats=repeats, warmup=warmup,
            threads=threads or None)
    except subprocess.TimeoutExpired:
        return dict(measured=False, skipped=f'the measuring process ran '
                    f'past {timeout_s:.0f} s and was stopped')
    except MeasurementError as e:
        return dict(measured=False, skipped=(
            f'the measuring process failed (exit {e.returncode}): '
            + e.stderr.strip()[-600:]))
    rec['process_s'] = time.time() - started
    return rec


# ----------------------------------------------------------------------
# predictions and the summary
# ----------------------------------------------------------------------
def pixels(point: dict) -> int:
    """The padded pixels of one image of ``point``."""
    return point['input_shape'][-2] * point['input_shape'][-1]


def reference(points: Sequence[dict]) -> Optional[dict]:
    """The smallest measured point (by work)."""
    done = [p for p in points if p.get('measured')]
    return min(done, key=lambda p: p['work_gflops']['search_iter'],
               default=None)


def predict(point: dict, points: Sequence[dict]) -> dict:
    """The FLOP model's time and the expected time / memory of ``point``
    from the measured points of its backbone (module docstring); empty
    while none of them is measured."""
    same = [p for p in points if p['backbone'] == point['backbone']]
    ref = reference(same)
    if ref is None:
        return {}
    thr = ref['conv3x3_gflops_per_s']
    work = point['work_gflops']['search_iter']
    flop_model_s = work / thr
    overhead = ref['median_s'] / (ref['work_gflops']['search_iter'] / thr)
    # from the other measured points (a measured point is predicted as if
    # it had not been measured; the reference only from itself)
    done = [p for p in same if p.get('measured')
            and p['name'] != point['name']] or [ref]
    by_t = [p for p in done if p['tasks'] == point['tasks']]
    state_src = min(by_t or done,
                    key=lambda p: abs(p['params'] - point['params']))
    state = state_src['state_mib'] * point['params'] / state_src['params']
    smaller = [p for p in by_t if p['crop'] <= point['crop']]
    if smaller:
        src = max(smaller, key=lambda p: p['crop'])
        act = src['peak_above_state_mib'] * pixels(point) / pixels(src)
        basis = f'activations of {src["name"]} x padded pixels'
    else:
        act = (ref['peak_above_state_mib'] * point['tasks'] / ref['tasks']
               * pixels(point) / pixels(ref))
        basis = f'activations of {ref["name"]} x tasks x padded pixels'
    return dict(flop_model_s=flop_model_s, expected_s=flop_model_s * overhead,
                expected_peak_mib=state + act, memory_basis=basis,
                reference=ref['name'], reference_gflops_per_s=thr)


def skip_reasons(pred: dict, max_mib: float, max_iter_s: float) -> List[str]:
    """Why a point with the prediction ``pred`` (:func:`predict`) is not
    measured: its expected peak memory above ``max_mib`` or its expected
    iteration above ``max_iter_s`` seconds (empty: measure it)."""
    reasons = []
    if pred['expected_peak_mib'] > max_mib:
        reasons.append(f'expected peak {pred["expected_peak_mib"]:.0f} MiB '
                       f'> --max-mib {max_mib:.0f}')
    if pred['expected_s'] > max_iter_s:
        reasons.append(f'expected {pred["expected_s"]:.0f} s per iteration'
                       f' > --max-iter-s {max_iter_s:.0f}')
    return reasons


def child_timeout(pred: Optional[dict], warmup: int, repeats: int) -> float:
    """Seconds the measuring process of a point may run: 8x its expected
    iterations (warm-up, timed, profiled and a margin), at least 600 s;
    an hour without a prediction (no point of the backbone measured)."""
    if not pred:
        return 3600.0
    return max(600.0, 8 * pred['expected_s'] * (warmup + 2 * repeats + 3))


def fusion_law(points: Sequence[dict], backbone: str) -> Optional[dict]:
    """``F_1 / T = c``, ``F_fuse / T = a + b (T - 1)`` at the smallest crop
    of ``backbone`` (least squares), and where the fusion part dominates;
    ``None`` without two task counts."""
    pts = [p for p in points if p['backbone'] == backbone]
    if not pts:
        return None
    crop = min(p['crop'] for p in pts)
    pts = sorted((p for p in pts if p['crop'] == crop),
                 key=lambda p: p['tasks'])
    if len({p['tasks'] for p in pts}) < 2:
        return None
    t = np.array([p['tasks'] for p in pts], dtype=float)
    f1 = np.array([p['work_gflops']['single_forward'] for p in pts])
    ff = np.array([p['work_gflops']['fusion_forward'] for p in pts])
    c = float(np.mean(f1 / t))
    (a, b), *_ = np.linalg.lstsq(np.stack([np.ones_like(t), t - 1], 1),
                                 ff / t, rcond=None)
    a, b = float(a), float(b)

    def share(n):  # fusion part of the iteration's work at n tasks
        fuse = n * (a + b * (n - 1))
        return 6 * fuse / (5 * n * c + 6 * fuse)

    def first_above_half(threshold):
        if b <= 0:
            return None
        return max(2, int(np.floor(1 + (threshold - a) / b)) + 1)
    return dict(
        crop=crop, per_column_single_gflops=c, fusion_own_gflops=a,
        fusion_per_other_task_gflops=b,
        residuals={str(p['tasks']): float(
            p['tasks'] * (a + b * (p['tasks'] - 1))
            / p['work_gflops']['fusion_forward'] - 1) for p in pts},
        iteration_fusion_share={str(n): share(n) for n in range(2, 11)},
        fusion_dominates_from_tasks=first_above_half(5 * c / 6),
        forward_fusion_dominates_from_tasks=first_above_half(c),
        what=('iteration work 5 F_1 + 6 F_fuse; the fusion part dominates '
              '(share > 1/2) from fusion_dominates_from_tasks tasks on; '
              'forward_...: where F_fuse > F_1 (inference of the all-edges '
              'supernet)'))


def summarise(points: List[dict]) -> dict:
    """Every point with its predictions (and, measured, its ratios to the
    FLOP model and to its own floor), the fusion law per backbone and the
    skipped points with why."""
    for p in points:
        p.update(predict(p, points))
        if p.get('measured') and p.get('flop_model_s'):
            p['measured_vs_flop_model'] = p['median_s'] / p['flop_model_s']
            p['measured_vs_own_floor'] = p['median_s'] / (
                p['work_gflops']['search_iter'] / p['conv3x3_gflops_per_s'])
    laws = {b: fusion_law(points, b)
            for b in sorted({p['backbone'] for p in points})}
    return dict(points=points, fusion=laws,
                skipped={p['name']: p['skipped'] for p in points
                         if p.get('skipped')})


def merge(paths: Sequence[str]) -> dict:
    """One result from several runs: a measured point replaces the same
    point of an earlier run; each run's settings and machine are kept
    (:func:`~.runs.read_runs`); the predictions and summary recomputed."""
    runs, points = read_runs(paths, 'points', ('fusion', 'skipped'))
    by_name: Dict[str, dict] = {}
    for p in points:
        p = {key: v for key, v in p.items() if key not in PREDICTED}
        if p.get('measured') or p['name'] not in by_name:
            by_name[p['name']] = p
    return dict(runs=runs, **summarise(list(by_name.values())))


# ----------------------------------------------------------------------
# the outputs
# ----------------------------------------------------------------------
def plot(result: dict, path: str) -> None:
    """Per backbone (columns): the iteration time and the peak memory
    against the tasks per crop (measured, predicted, not measured) and
    the fusion share of the iteration's work."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    points = result['points']
    backbones = [b for b in DEFAULT_BACKBONES
                 if any(p['backbone'] == b for p in points)]
    backbones += sorted({p['backbone'] for p in points} - set(backbones))
    fig, axes = plt.subplots(3, len(backbones),
                             figsize=(5.2 * len(backbones), 11),
                             squeeze=False)
    for col, bb in enumerate(backbones):
        pts = [p for p in points if p['backbone'] == bb]
        crops = sorted({p['crop'] for p in pts})
        colors = plt.cm.viridis(np.linspace(0, 0.85, len(crops)))
        for crop, color in zip(crops, colors):
            cp = sorted((p for p in pts if p['crop'] == crop),
                        key=lambda p: p['tasks'])
            ts = [p['tasks'] for p in cp]
            for row, key, model_key in ((0, 'median_s', 'flop_model_s'),
                                        (1, 'peak_mib',
                                         'expected_peak_mib')):
                ax = axes[row][col]
                meas = [(p['tasks'], p[key]) for p in cp if p.get('measured')]
                label = f'{crop}x{crop}'
                if any(model_key in p for p in cp):
                    ax.plot(ts, [p.get(model_key, np.nan) for p in cp], '--',
                            color=color, alpha=0.8,
                            label=None if meas else label)
                if meas:
                    ax.plot(*zip(*meas), 'o-', color=color, label=label)
                skip = [(p['tasks'], p.get(model_key)) for p in cp
                        if not p.get('measured') and p.get(model_key)]
                if skip:
                    ax.plot(*zip(*skip), 'x', color=color, ms=9, mew=2)
        law = result['fusion'].get(bb)
        ax = axes[2][col]
        if law:
            ns = sorted(int(n) for n in law['iteration_fusion_share'])
            ax.plot(ns, [law['iteration_fusion_share'][str(n)] for n in ns],
                    'o-', color='C3')
            ax.axhline(0.5, color='grey', lw=0.8)
            dom = law['fusion_dominates_from_tasks']
            if dom:
                ax.axvline(dom, color='C3', lw=0.8, ls=':')
            ax.set_title(f'{bb}: fusion share of the iteration work '
                         f'(dominates from {dom} tasks)', fontsize=9)
        ax.set_xlabel('tasks')
        ax.set_ylim(0, 1)
        axes[0][col].set_title(f'{bb}: search iteration (s)\n'
                               'o measured, -- FLOP model, x not measured',
                               fontsize=9)
        axes[1][col].set_title(f'{bb}: peak memory (MiB)\n'
                               'o measured, -- prediction, x not measured',
                               fontsize=9)
        for row in (0, 1):
            axes[row][col].set_yscale('log')
            axes[row][col].set_xlabel('tasks')
            axes[row][col].grid(True, which='both', alpha=0.3)
            axes[row][col].legend(fontsize=8, title='crop')
        for row in range(3):
            axes[row][col].set_xticks(sorted({p['tasks'] for p in pts}
                                             | ({2, 4, 6, 8, 10}
                                                if row == 2 else set())))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: dict, out: Optional[str], plot_path: Optional[str],
          overwrite: bool = False) -> None:
    """The JSON to stdout and ``out``
    (:func:`~mtlnas_mm.utils.write_json_report`), the picture to
    ``plot_path``."""
    write_json_report(result, out, 'benchmark_scaling.py', overwrite)
    if plot_path:
        plot(result, plot_path)
