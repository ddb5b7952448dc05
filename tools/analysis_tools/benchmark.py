"""Speed and memory of the search against the single-task pair and NDDR-CNN.

    python tools/analysis_tools/benchmark.py [--backbone vgg16|vgg-tiny] [--size H W]
        [--batch N] [--repeats R] [--warmup W] [--threads T]
        [--device cpu|cuda] [--kept K] [--out FILE.json] [--markdown FILE.md]

Everything is measured in one process, one run, with the same backbone and
the same synthetic batch (``--batch`` images of ``--size``):

training step (``model.train_step``: preprocessor, forward, backward,
optimizer step, from the project configs and their optimizers)
    * ``single``: the single-task pair (``TaskColumns`` without edges);
    * ``nddr``: NDDR-CNN;
    * ``super_weight``: the search model's weight step alone (relaxed gates,
      weight optimizer only);
    * ``search_iter``: one full search iteration (``MTLNAS.train_step``
      with ``dict(weight=batch, arch=batch)`` and the
      ``BilevelOptimWrapperConstructor`` optimizers: architecture step +
      weight step);

inference (``model.test_step`` under ``torch.no_grad``, eval mode)
    * ``single``, ``nddr``;
    * ``derived``: the search model fixed (``fix_subnet``) to an
      ``Architecture`` keeping ``--kept`` of the candidate edges;
    * ``supernet``: the search model with ``eval_gate_mode='sigmoid'`` (every
      candidate edge computed).

Timing: ``--warmup`` untimed runs, then ``--repeats`` timed runs; the runs of
all cases are interleaved round-robin (so a load change on a shared machine
hits every case alike) and the median is reported.  Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` of one extra run (after
``reset_peak_memory_stats``); on CPU one extra run under
``torch.profiler.profile(profile_memory=True)``: the allocator's allocation
and free events, sorted by time, are summed and the peak of that running sum
(memory allocated during the run above its start) is added to the bytes
alive at its start (parameters, buffers, gradients and optimizer state).
The same profiled run counts the forward FLOPs (torch.profiler
``with_flops``); the targets also show the ratio a pure FLOP model predicts,
to tell overhead that can be removed from work that the architecture adds.

The JSON result (stdout, and ``--out``) holds the machine, the settings, the
per-case figures, the ratios against the single-task pair and the targets
with pass / fail.
"""
import argparse
import contextlib
import copy
import json
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import mtlnas_mm  # noqa: F401,E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mtlnas_mm.engine.optimizers import \
    BilevelOptimWrapperConstructor  # noqa: E402
from mtlnas_mm.models.search_spaces import ARCH_STEP, WEIGHT_STEP  # noqa: E402
from mtlnas_mm.structures import Architecture  # noqa: E402

CONFIGS = {
    'vgg16': dict(
        single='configs/baselines/single-task_vgg16_nyuv2.py',
        nddr='configs/baselines/nddr_vgg16_nyuv2.py',
        search='configs/mtlnas/mtlnas_vgg16_nyuv2.py'),
    'vgg-tiny': dict(
        single='configs/baselines/single-task_vgg-tiny_synthetic.py',
        nddr='configs/baselines/nddr_vgg-tiny_synthetic.py',
        search='configs/mtlnas/mtlnas_vgg-tiny_synthetic.py'),
}

#: (name, limit, description)
TARGETS = (
    ('search_iter_vs_single_step', 2.2,
     'search iteration time / single-task-pair training step time'),
    ('fusion_overhead', 0.15,
     '(supernet weight step - single-task-pair step) / supernet weight step'),
    ('derived_infer_vs_single', 1.10,
     'derived-model inference time / single-task-pair inference time'),
    ('search_mem_vs_nddr', 1.3,
     'search-iteration peak memory / NDDR-CNN training-step peak memory'),
)

MiB = 2.0**20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------
# machine, models, data
# ----------------------------------------------------------------------
def machine_info(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = dict(
        cpu_model=cpu,
        cpu_count=os.cpu_count(),
        cpu_usable=usable,
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        mkldnn=torch.backends.mkldnn.is_available(),
        python=platform.python_version(),
        device=str(device))
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


def load_cfg(path: str) -> Config:
    return Config.fromfile(os.path.join(REPO, path))


def build_model(model_cfg, device: torch.device, seed: int = 0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model.to(device)


def make_batch(n: int, h: int, w: int, num_classes: int,
               seed: int = 0) -> dict:
    """A batch as the data preprocessor receives it from the loader."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g,
                                    dtype=torch.uint8))
        seg = torch.randint(0, num_classes, (1, h, w), generator=g)
        seg[torch.rand(1, h, w, generator=g) < 0.1] = 255
        normal = F.normalize(torch.randn(3, h, w, generator=g), dim=0)
        sample = SegDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=seg.long())
        sample.gt_normal_map = PixelData(data=normal)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def state_bytes(model, optim_wrappers) -> int:
    """Bytes of parameters, buffers, gradients and optimizer state."""
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if torch.is_tensor(t) and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()

    for p in model.parameters():
        add(p)
        add(p.grad)
    for b in model.buffers():
        add(b)
    for wrapper in optim_wrappers:
        for state in wrapper.optimizer.state.values():
            for v in state.values():
                add(v)
    return total


# ----------------------------------------------------------------------
# measurement
# ----------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def _peak_of_running_sum(prof) -> int:
    """Peak of the running sum of the CPU allocator's events, time order."""
    events = [(e.start_ns(), e.nbytes())
              for e in prof.profiler.kineto_results.events()
              if e.name() == '[memory]'
              and e.device_type() == torch.autograd.DeviceType.CPU]
    events.sort(key=lambda x: x[0])
    cur = peak = 0
    for _, nbytes in events:
        cur += nbytes
        peak = max(peak, cur)
    return peak


def profiled_run(fn: Callable[[], None], device: torch.device,
                 base: Callable[[], int]) -> dict:
    """One run under torch.profiler: peak memory and forward GFLOPs.

    FLOPs are torch.profiler's ``with_flops`` estimates (convolutions,
    matmuls, elementwise mul/add of the forward ops it has formulas for;
    backward kernels are not counted).
    """
    from torch.profiler import ProfilerActivity, profile
    cpu = device.type != 'cuda'
    start = base() if cpu else 0
    if not cpu:
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=cpu,
                 with_flops=True) as prof:
        fn()
        sync(device)
    gflops = sum(e.flops for e in prof.events() if e.flops) / 1e9
    if not cpu:
        return dict(peak_mib=torch.cuda.max_memory_allocated(device) / MiB,
                    fwd_gflops=gflops)
    above = _peak_of_running_sum(prof)
    return dict(peak_mib=(start + above) / MiB, state_mib=start / MiB,
                peak_above_state_mib=above / MiB, fwd_gflops=gflops)


class Case:
    """One thing to time: a callable, its kind and its memory baseline."""

    def __init__(self, name: str, kind: str, fn: Callable[[], None],
                 base: Callable[[], int], info: Optional[dict] = None):
        self.name, self.kind, self.fn, self.base = name, kind, fn, base
        self.info = info or {}
        self.times: List[float] = []


def train_case(name, model, batch_fn, optim_wrapper, wrappers, info=None):
    def fn():
        model.train_step(batch_fn(), optim_wrapper)
    model.train()
    return Case(name, 'train', fn, lambda: state_bytes(model, wrappers),
                info)


def infer_case(name, model, batch_fn, info=None):
    def fn():
        with torch.no_grad():
            model.test_step(batch_fn())
    model.eval()
    return Case(name, 'infer', fn, lambda: state_bytes(model, []), info)


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--backbone', choices=sorted(CONFIGS),
                        default='vgg16')
    parser.add_argument('--size', type=int, nargs=2, default=(128, 160),
                        metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed runs per case first (default 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--kept', type=int, default=4,
                        help='edges kept by the derived model (default 4)')
    parser.add_argument('--out', default=None, help='write the JSON here')
    parser.add_argument('--markdown', default=None,
                        help='write a markdown table of the result here')
    parser.add_argument('--only', nargs='+', default=None,
                        help='run only these cases (debugging)')
    parser.add_argument('--note', default=None,
                        help='free text stored in the JSON (e.g. why '
                        '--threads was chosen)')
    return parser.parse_args(argv)


def pick_edges(edges, k: int):
    """``k`` candidate edges spread evenly over the candidate order."""
    k = max(0, min(k, len(edges)))
    return [edges[(j * len(edges)) // k] for j in range(k)]


def build_cases(args, device) -> List[Case]:
    h, w = args.size
    cfgs = {k: load_cfg(v) for k, v in CONFIGS[args.backbone].items()}
    init_default_scope(cfgs['search'].get('default_scope', 'mmseg'))
    num_classes = cfgs['single'].model.tasks.seg.head.num_classes

    def num_edges(model) -> int:
        edges = getattr(model.backbone, 'edges', None)
        return len(edges.edges) if edges is not None else 0
    base_batch = make_batch(args.batch, h, w, num_classes)

    def batch_fn():
        return copy.deepcopy(base_batch)

    def search_batch_fn():
        return {WEIGHT_STEP: copy.deepcopy(base_batch),
                ARCH_STEP: copy.deepcopy(base_batch)}

    cases: List[Case] = []
    # -------- baselines: plain training step with the config's optimizer
    for key in ('single', 'nddr'):
        cfg = cfgs[key]
        model = build_model(cfg.model, device)
        wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
        info = dict(config=CONFIGS[args.backbone][key],
                    params=count_params(model),
                    edges=num_edges(model))
        cases.append(train_case(key, model, batch_fn, wrapper, [wrapper],
                                info))
        cases.append(infer_case(key, build_model(cfg.model, device),
                                batch_fn, info))

    # -------- search model: weight step alone and the full iteration
    scfg = cfgs['search']
    ow_cfg = copy.deepcopy(dict(scfg.optim_wrapper))
    if ow_cfg.pop('constructor', None) != 'BilevelOptimWrapperConstructor':
        raise ValueError(f'{CONFIGS[args.backbone]["search"]}: expected a '
                         'BilevelOptimWrapperConstructor optim_wrapper')
    constructor = BilevelOptimWrapperConstructor(
        ow_cfg, ow_cfg.pop('paramwise_cfg', None))
    # the regulariser weight of the recipe once MinEntropyHook switched it on
    entropy_weight = 10.0
    for hook in scfg.get('custom_hooks', []):
        if hook.get('type') == 'MinEntropyHook':
            entropy_weight = float(hook.get('entropy_weight', entropy_weight))
    search_info = dict(config=CONFIGS[args.backbone]['search'])

    model_w = build_model(scfg.model, device)
    wrappers_w = constructor(model_w)
    model_w.set_step(WEIGHT_STEP)
    space_w = model_w.search_space
    search_info.update(params=count_params(model_w),
                       edges=len(space_w.edges))
    cases.append(train_case(
        'super_weight', model_w, batch_fn, wrappers_w[WEIGHT_STEP],
        [wrappers_w[WEIGHT_STEP], wrappers_w[ARCH_STEP]],
        dict(search_info, gate_mode=space_w.gate_mode,
             optimizer='weights only')))

    model_s = build_model(scfg.model, device)
    model_s.set_regularizer_weight(entropy_weight)
    wrappers_s = constructor(model_s)
    cases.append(train_case(
        'search_iter', model_s, search_batch_fn, wrappers_s,
        [wrappers_s[WEIGHT_STEP], wrappers_s[ARCH_STEP]],
        dict(search_info, entropy_weight=entropy_weight,
             step_gate_modes=dict(model_s.search_space.step_gate_modes))))

    # -------- derived model (fixed architecture, few kept edges)
    edges = list(model_s.search_space.edges)
    kept = pick_edges(edges, args.kept)
    arch = Architecture(edges, kept, tasks=model_s.search_space.tasks)
    dmodel_cfg = copy.deepcopy(scfg.model)
    dmodel_cfg.fix_subnet = arch
    derived = build_model(dmodel_cfg, device)
    derived.load_state_dict(model_s.state_dict())
    cases.append(infer_case(
        'derived', derived, batch_fn,
        dict(search_info, kept=len(kept), kept_edges=[e.key for e in kept],
             gate_mode='fixed')))

    # -------- supernet inference: every edge, sigmoid gates
    supernet = build_model(scfg.model, device)
    supernet.search_space.eval_gate_mode = 'sigmoid'
    cases.append(infer_case('supernet', supernet, batch_fn,
                            dict(search_info, eval_gate_mode='sigmoid')))
    if args.only:
        cases = [c for c in cases
                 if c.name in args.only or f'{c.kind}:{c.name}' in args.only]
    return cases


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarise(cases: List[Case]) -> dict:
    results: Dict[str, Dict[str, dict]] = {'train': {}, 'infer': {}}
    for c in cases:
        entry = dict(median_s=statistics.median(c.times),
                     min_s=min(c.times), max_s=max(c.times),
                     times_s=c.times)
        entry.update(c.mem)
        entry.update(c.info)
        results[c.kind][c.name] = entry

    def med(kind, name):
        return results[kind].get(name, {}).get('median_s')

    def mem(kind, name):
        return results[kind].get(name, {}).get('peak_mib')

    t_single, t_super = med('train', 'single'), med('train', 'super_weight')
    values = dict(
        search_iter_vs_single_step=ratio(med('train', 'search_iter'),
                                         t_single),
        fusion_overhead=(None if t_single is None or t_super is None else
                         (t_super - t_single) / t_super),
        derived_infer_vs_single=ratio(med('infer', 'derived'),
                                      med('infer', 'single')),
        search_mem_vs_nddr=ratio(mem('train', 'search_iter'),
                                 mem('train', 'nddr')))
    # the same ratios if time were proportional to the forward FLOPs
    # (a training step ~ 3 forward-sized passes: forward, input gradients,
    # weight gradients; the architecture step skips the weight gradients
    # except the fusion convs', which the gate gradients need)

    def fl(kind, name):
        return results[kind].get(name, {}).get('fwd_gflops')

    f1, fs = fl('train', 'single'), fl('train', 'super_weight')
    flop_values = dict(
        search_iter_vs_single_step=(None if f1 is None or fs is None else
                                    (3 * fs + 2 * fs + (fs - f1)) / (3 * f1)),
        fusion_overhead=(None if f1 is None or fs is None else
                         (fs - f1) / fs),
        derived_infer_vs_single=ratio(fl('infer', 'derived'),
                                      fl('infer', 'single')),
        search_mem_vs_nddr=None)
    targets = {}
    for name, limit, desc in TARGETS:
        v = values[name]
        targets[name] = dict(value=v, limit=limit, description=desc,
                             passed=None if v is None else bool(v <= limit),
                             flop_model_value=flop_values[name])
    vs_single = {}
    for kind in ('train', 'infer'):
        for name in results[kind]:
            vs_single[f'{kind}:{name}'] = dict(
                time=ratio(med(kind, name), med(kind, 'single')),
                memory=ratio(mem(kind, name), mem(kind, 'single')))
    return dict(results=results, vs_single=vs_single, targets=targets)


def fmt(v, spec='.2f', none='-'):
    return none if v is None else format(v, spec)


def markdown(result: dict) -> str:
    s = result['settings']
    m = result['machine']
    lines = [
        f"{s['backbone']}, {s['batch']} x 3 x {s['size'][0]} x "
        f"{s['size'][1]}, median of {s['repeats']} runs after "
        f"{s['warmup']} warm-up runs; {m['device']}: {m['cpu_model']} "
        f"({m['cpu_usable']} cores usable, {m['torch_threads']} torch "
        f"threads), torch {m['torch']}; memory: {result['memory_method']}.",
        '',
        '| case | what | time (s) | x single | peak mem (MiB) | x single '
        '| fwd GFLOPs |',
        '|---|---|---:|---:|---:|---:|---:|',
    ]
    what = {
        'train:single': 'training step, single-task pair',
        'train:nddr': 'training step, NDDR-CNN',
        'train:super_weight': 'search weight step (relaxed gates)',
        'train:search_iter': 'search iteration (arch + weight step)',
        'infer:single': 'inference, single-task pair',
        'infer:nddr': 'inference, NDDR-CNN',
        'infer:derived': 'inference, derived model ({} of {} edges)',
        'infer:supernet': 'inference, supernet (sigmoid gates, all edges)',
    }
    for kind in ('train', 'infer'):
        for name, r in result['results'][kind].items():
            key = f'{kind}:{name}'
            desc = what.get(key, key)
            if name == 'derived':
                desc = desc.format(r.get('kept'), r.get('edges'))
            vs = result['vs_single'][key]
            lines.append(
                f"| {key} | {desc} | {fmt(r['median_s'], '.3f')} | "
                f"{fmt(vs['time'])} | {fmt(r.get('peak_mib'), '.0f')} | "
                f"{fmt(vs['memory'])} | {fmt(r.get('fwd_gflops'), '.1f')} |")
    lines += ['', '| target | measured | limit | result | FLOP model |',
              '|---|---:|---:|---|---:|']
    for name, t in result['targets'].items():
        passed = {True: 'pass', False: '**fail**', None: '-'}[t['passed']]
        lines.append(f"| {t['description']} | {fmt(t['value'], '.3f')} | "
                     f"{t['limit']} | {passed} | "
                     f"{fmt(t['flop_model_value'], '.3f')} |")
    return '\n'.join(lines) + '\n'


def main(argv=None) -> dict:
    args = parse_args(argv)
    # stdout carries the JSON only: mmengine logs (init_weights reports ...)
    # go to stderr, below WARNING not at all
    with contextlib.redirect_stdout(sys.stderr):
        MMLogger.get_instance('mtlnas_benchmark', log_level='WARNING')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    started = time.time()
    with contextlib.redirect_stdout(sys.stderr):
        cases = build_cases(args, device)
    log(f'benchmark: {len(cases)} cases, {args.backbone}, batch '
        f'{args.batch} x {args.size[0]}x{args.size[1]}, device {device}, '
        f'{torch.get_num_threads()} threads')
    for r in range(args.warmup):
        for c in cases:
            dt = timed(c.fn, device)
            log(f'  warm-up {r + 1}/{args.warmup} {c.kind}:{c.name}: '
                f'{dt:.3f}s')
    for r in range(args.repeats):
        for c in cases:
            c.times.append(timed(c.fn, device))
        log(f'  repeat {r + 1}/{args.repeats}: ' + ', '.join(
            f'{c.kind}:{c.name} {c.times[-1]:.3f}s' for c in cases))
    for c in cases:
        c.mem = profiled_run(c.fn, device, c.base)
        log(f'  memory {c.kind}:{c.name}: {c.mem["peak_mib"]:.0f} MiB, '
            f'{c.mem["fwd_gflops"]:.1f} forward GFLOPs')

    result = dict(
        machine=machine_info(device),
        settings=dict(backbone=args.backbone, size=list(args.size),
                      batch=args.batch, repeats=args.repeats,
                      warmup=args.warmup, kept=args.kept,
                      order='round-robin over cases, median per case',
                      command=shlex.join(['python', 'tools/analysis_tools/benchmark.py'] +
                                         (sys.argv[1:] if argv is None
                                          else list(argv)))),
        memory_method=(
            'torch.cuda.max_memory_allocated after reset_peak_memory_stats'
            if device.type == 'cuda' else
            'torch.profiler profile_memory=True: peak of the running sum of '
            'CPU allocator events (time order) during one run, plus the '
            'bytes alive at its start (parameters, buffers, gradients, '
            'optimizer state)'),
        time_method=('time.perf_counter around one call (train_step: '
                     'preprocess + forward + backward + optimizer step; '
                     'inference: test_step under no_grad, eval mode)'),
    )
    if args.note:
        result['note'] = args.note
    result.update(summarise(cases))
    result['wall_s'] = time.time() - started
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    table = markdown(result)
    log(table)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(table)
    return result


if __name__ == '__main__':
    main()
