"""Speed and memory of the search against the single-task pair, NDDR-CNN,
the FLOP floor and (optionally) the official MTL-NAS implementation.

    python tools/analysis_tools/benchmark.py [--backbone vgg16|vgg-tiny]
        [--size H W] [--batch N] [--repeats R] [--warmup W] [--threads T]
        [--device cpu|cuda] [--kept K] [--official-root DIR]
        [--out FILE.json] [--markdown FILE.md] [--only CASE ...]
        [--cfg-options k=v ...] [--search-cfg-options k=v ...]

Everything is measured in one process, one run, with the same backbone and
the same synthetic batch (``--batch`` images of ``--size``).  Cases
(``kind:name``):

``train`` (``model.train_step``: preprocessor, forward, backward,
optimizer step, from the project configs and their optimizers)
    * ``single``: the single-task pair (``TaskColumns`` without edges);
    * ``nddr``: NDDR-CNN;
    * ``search_iter``: one search iteration (``MTLNAS.train_step`` with
      ``dict(weight=batch, arch=batch)`` and the
      ``BilevelOptimWrapperConstructor`` optimizers), split into its
      **architecture step** and **weight step**: the model's ``set_step``
      is wrapped (on the instance) so that ``MTLNAS.bilevel_step``'s calls
      ``set_step('arch')``, ``set_step('weight')``, ``set_step(None)``
      mark the phases of the same timed call;

``infer`` (``model.test_step`` under ``torch.no_grad``, eval mode)
    * ``single``, ``nddr``;
    * ``derived``: the search model fixed (``fix_subnet``) to an
      ``Architecture`` keeping ``--kept`` of the candidate edges;
    * ``supernet``: the search model with ``eval_gate_mode='sigmoid'``
      (every candidate edge computed);

``floor``
    * ``conv3x3``: the network's own 3x3 convolutions (every distinct
      shape of the single-task pair's forward at the benchmark's batch:
      input, weight, stride, padding, dilation), each run once as
      ``F.conv2d`` forward + backward (input and weight gradients): the
      machine's conv throughput in GFLOP/s (oneDNN on CPU, cuDNN on CUDA);
      ``3 x 2 N C_out H_out W_out C_in k^2`` FLOPs per conv;

``official`` (only with ``--official-root DIR``, see below)
    * ``search_iter`` (architecture step + weight step), ``single``.

Timing: ``--warmup`` untimed runs, then ``--repeats`` timed runs; the runs of
all cases are interleaved round-robin (so a load change on a shared machine
hits every case alike) and the median is reported.  On CUDA every timing
and every phase mark synchronises the device first.

Peak memory: two extra runs under ``torch.profiler``, the second measured
(the profiler drops the free events of blocks allocated before it started:
a step that frees the previous step's gradients, as the official code's
``zero_grad()`` does on torch 2, would seem to hold both); on CUDA
``torch.cuda.max_memory_allocated`` of the second run (after
``reset_peak_memory_stats``); on CPU (``profile_memory=True``) the
allocator's allocation and free events of the second run, sorted by time,
are summed and the peak of that running sum (memory allocated during the
run above its start) is added to the bytes alive at its start (parameters,
buffers, gradients and optimizer state).
The same profiled run counts the forward FLOPs (torch.profiler
``with_flops``: convolutions, matmuls, elementwise mul / add; no backward
kernels).  One more run under ``torch.utils.flop_counter.FlopCounterMode``
counts the FLOPs actually executed (convolutions and matmuls, forward *and*
backward, as autograd ran them): ``executed_gflops``.

**The FLOP floor.**  With ``F`` the forward GFLOPs of one search forward
(half the search iteration's profiled count), ``F_1`` the single-task
pair's, and ``F_fuse = F - F_1`` the work of the fusion ops (the search
model's parameters are the single pair's plus the fusion ops' plus the
gate logits, so the difference is what the fusion ops compute), a step that
needs the input gradients of every layer costs one forward more and one
that needs the weight gradients of a layer costs that layer's forward more:

* architecture step: forward ``F`` + input gradients ``F`` + the fusion
  convs' weight gradients ``F_fuse`` (the gates are folded into the fusion
  convs' weight columns, so the gate gradients are those weight gradients
  reduced; no other weight gradient is needed): ``2 F + F_fuse``;
* weight step: forward + input gradients + weight gradients: ``3 F``;
* search iteration: ``5 F + F_fuse``; single-task-pair step ``3 F_1``;
  inference ``F``.

``floor_s = work / conv3x3 throughput``: the time if every FLOP ran at the
speed of the network's own 3x3 convs (approximations: the first conv's
input gradient is counted, BN / ReLU / losses are not; all are small).

**The official implementation** (``--official-root DIR``: a checkout of
bhpfelix/MTLNAS that the user provides; imported from ``DIR`` through
``sys.path``, nothing of it is copied into this project).  The tool calls:
``core/config/defaults.py`` (``core.config.cfg``, merged with its default
NYUv2 search config ``configs/ablation/vgg_nyuv2_default.yaml``, with
``TRAIN.WEIGHT_1/2 = ''``: random initialisation, the released weights are
not needed for timing), ``core.tasks.get_tasks`` and
``core.models.get_model`` (``GeneralizedMTLNASNet`` of
``core/models/supernet.py`` over two ``DeepLabLargeFOVBN16`` columns with
``SingleSidedAsymmetricNDDR`` fusion; for the single-task pair the same
config with ``ARCH.SEARCHSPACE = ''`` and ``MODEL.SINGLETASK = True``:
``SingleTaskNet`` of ``core/models/nddr_net.py``) and the models'
``loss``, ``arch_train``, ``arch_eval``, ``step``, ``arch_parameters``,
``named_net_parameters``.  Its training loop lives inside ``main()`` of
``tools/train_nas.py`` (``tools/train.py`` for the single pair), so the
benchmark repeats what that loop does per iteration: the same parameter
groups (fc8 weights x10 / biases x20, fusion ops x100 of ``TRAIN.LR``),
``SGD(momentum, weight_decay)`` with the poly ``LambdaLR`` stepped every
iteration, ``Adam(arch_parameters, ARCH.LR, betas=(0.5, 0.999),
ARCH.WEIGHT_DECAY)`` (its scheduler is not stepped under Adam); per
iteration ``arch_train(); arch_optimizer.zero_grad(); loss(...).backward()
; arch_optimizer.step(); arch_eval()`` (the architecture step: its backward
reaches every parameter, as the official code does), then
``optimizer.zero_grad(); loss(...).backward(); optimizer.step();
model.step(); scheduler.step()`` (the weight step), inputs moved to the
device inside the timed call as its loop does.  Its inputs are the same
batch as the project's: images normalised with the project's mean / std,
labels ``(N, 1, H, W)`` and normals ``(N, 3, H, W)``.  Written for torch
1.4, the code imports and runs unchanged on torch 2.x (no shim); one
behavioural difference of the newer torch is that ``zero_grad()`` now sets
gradients to ``None`` instead of zeroing them in place.  It needs ``yacs``
(its ``requirements.txt``); a checkout that cannot be imported or built
stops the tool with the reason.  The official network is always the
full-width VGG-16 LargeFOV pair: the comparison is like for like with
``--backbone vgg16`` only (with ``vgg-tiny`` the official targets are not
judged).

``--cfg-options`` (every project config) and ``--search-cfg-options``
(the search config only) override config settings as in ``tools/train.py``,
to time an option of the configs (e.g. the optim wrappers of both search
steps: ``optim_wrapper.weight.type=...``, ``optim_wrapper.arch.type=...``).

The JSON result (stdout, and ``--out``) holds the machine, the settings,
the per-case figures, the ratios against the single-task pair and the
official implementation, the floor and the targets with pass / fail; the
markdown tables (stderr, and ``--markdown``) show the same.
"""
import argparse
import contextlib
import copy
import importlib
import os
import platform
import shlex
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction
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
from mtlnas_mm.models.layers.conv1x1 import conv1x1_backend  # noqa: E402
from mtlnas_mm.models.search_spaces import ARCH_STEP, WEIGHT_STEP  # noqa: E402
from mtlnas_mm.structures import Architecture  # noqa: E402
from mtlnas_mm.utils import (claim_output_file,  # noqa: E402
                             write_json_report)

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
#: the official default NYUv2 search config, inside an MTL-NAS checkout
OFFICIAL_SEARCH_CONFIG = 'configs/ablation/vgg_nyuv2_default.yaml'
#: files whose presence makes a directory an MTL-NAS checkout
OFFICIAL_FILES = ('core/models/supernet.py', 'core/config/defaults.py',
                  OFFICIAL_SEARCH_CONFIG)
#: the backbone the official network is (like-for-like comparison)
OFFICIAL_BACKBONE = 'vgg16'

#: (name, direction, limit, description); limit None: computed (see
#: ``summarise``); targets against the official code need --official-root
TARGETS = (
    ('search_iter_speedup_vs_official', '>=', 1.3,
     'official search iteration time / mtlnas_mm search iteration time'),
    ('search_iter_vs_floor', '<=', 1.15,
     'search iteration time / its FLOP floor (5 F + F_fuse at the '
     'measured 3x3-conv throughput)'),
    ('weight_step_vs_single_step', '<=', None,
     'weight step (in the iteration) / single-task-pair training step; '
     'limit: their forward-FLOP ratio F / F_1'),
    ('search_mem_vs_official', '<=', 0.75,
     'search-iteration peak memory / the official one\'s'),
    ('derived_infer_vs_single', '<=', 1.13,
     'derived-model inference time / single-task-pair inference time'),
)

#: phases of a search iteration, in order
PHASES = (ARCH_STEP, WEIGHT_STEP)
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
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    info = dict(
        cpu_model=cpu,
        cpu_count=os.cpu_count(),
        cpu_usable=usable,
        load_average=load,
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        mkldnn=torch.backends.mkldnn.is_available(),
        python=platform.python_version(),
        device=str(device))
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
        info['cudnn'] = torch.backends.cudnn.version()
    return info


def load_cfg(path: str) -> Config:
    return Config.fromfile(os.path.join(REPO, path))


def build_model(model_cfg, device: torch.device, seed: int = 0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model.to(device)


def make_batch(n: int, h: int, w: int, num_classes: int,
               seed: int = 0, with_depth: bool = False) -> dict:
    """A batch as the data preprocessor receives it from the loader
    (segmentation, normals and, with ``with_depth``, depth maps)."""
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
        if with_depth:
            depth = 0.5 + 9.5 * torch.rand(1, h, w, generator=g)
            sample.gt_depth_map = PixelData(data=depth)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def state_bytes(model, optim_wrappers) -> int:
    """Bytes of parameters, buffers, gradients and optimizer state
    (``optim_wrappers``: mmengine optim wrappers or torch optimizers)."""
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
        optimizer = getattr(wrapper, 'optimizer', wrapper)
        for state in optimizer.state.values():
            for v in state.values():
                add(v)
    return total


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------
# measurement
# ----------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


#: the clocks of ``--clock``: wall time, or the calling thread's CPU time
#: (with one torch thread on CPU: robust to other processes sharing the
#: cores, which stretch wall time but not the thread's own CPU time)
CLOCKS = {'wall': time.perf_counter, 'thread': time.thread_time}
_clock = CLOCKS['wall']


def set_clock(name: str, device: torch.device) -> None:
    global _clock
    if name == 'thread' and (device.type != 'cpu'
                             or torch.get_num_threads() != 1):
        raise ValueError('--clock thread measures the calling thread only: '
                         'it needs --device cpu and --threads 1 (got '
                         f'{device.type}, {torch.get_num_threads()} '
                         'threads)')
    _clock = CLOCKS[name]


def timed(fn: Callable[[], None], device: torch.device) -> float:
    sync(device)
    t0 = _clock()
    fn()
    sync(device)
    return _clock() - t0


class PhaseClock:
    """Splits one timed call into phases at marks (``mark(name)`` ends the
    running phase and starts ``name``; ``mark(None)`` only ends it).
    Records only while armed, so untimed runs leave no trace."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.armed = False
        self.phases: Dict[str, float] = {}
        self._current: Optional[str] = None
        self._since = 0.0

    def arm(self) -> None:
        self.armed, self.phases, self._current = True, {}, None

    def mark(self, phase: Optional[str]) -> None:
        if not self.armed:
            return
        sync(self.device)
        now = _clock()
        if self._current is not None:
            self.phases[self._current] = (self.phases.get(self._current, 0.)
                                          + now - self._since)
        self._current, self._since = phase, now

    def disarm(self) -> Dict[str, float]:
        self.mark(None)
        self.armed = False
        return self.phases


#: name of the profiler annotation around the measured run
MEASURED_RUN = 'mtlnas_benchmark.measured_run'


def _measured_window(events) -> tuple:
    """Start and end (ns) of the :data:`MEASURED_RUN` annotation."""
    for e in events:
        if e.name() == MEASURED_RUN:
            return e.start_ns(), e.end_ns()
    raise RuntimeError(f'profiler trace without the {MEASURED_RUN} '
                       'annotation')


def _peak_of_running_sum(prof) -> int:
    """Peak of the running sum of the CPU allocator's events (time order)
    inside the measured run."""
    events = list(prof.profiler.kineto_results.events())
    start, end = _measured_window(events)
    mem = [(e.start_ns(), e.nbytes()) for e in events
           if e.name() == '[memory]'
           and e.device_type() == torch.autograd.DeviceType.CPU
           and start <= e.start_ns() <= end]
    mem.sort(key=lambda x: x[0])
    cur = peak = 0
    for _, nbytes in mem:
        cur += nbytes
        peak = max(peak, cur)
    return peak


def _window_gflops(prof) -> float:
    """torch.profiler's forward-op FLOPs inside the measured run."""
    events = list(prof.profiler.kineto_results.events())
    start, end = _measured_window(events)
    return sum(e.flops() for e in events
               if e.flops() and start <= e.start_ns() <= end) / 1e9


def profiled_run(fn: Callable[[], None], device: torch.device,
                 base: Callable[[], int]) -> dict:
    """Peak memory and forward GFLOPs of one run of ``fn``.

    ``fn`` runs twice under torch.profiler and the second run is measured:
    the profiler drops the free events of blocks allocated before it
    started (a code that frees its previous gradients during the step, as
    ``zero_grad(set_to_none=True)`` does, would otherwise seem to hold them
    and the new ones at once), and in the second run every block freed was
    allocated while profiling.  On CPU the bytes alive at the start of the
    second run (``base()``: parameters, buffers, gradients, optimizer state)
    plus the peak of the running sum of the allocator's events during it;
    on CUDA ``max_memory_allocated`` after ``reset_peak_memory_stats``.
    FLOPs are torch.profiler's ``with_flops`` estimates (convolutions,
    matmuls, elementwise mul/add of the forward ops it has formulas for;
    backward kernels are not counted).
    """
    from torch.profiler import ProfilerActivity, profile, record_function
    cpu = device.type != 'cuda'
    with profile(activities=[ProfilerActivity.CPU], profile_memory=cpu,
                 with_flops=True) as prof:
        fn()
        sync(device)
        start = base() if cpu else 0
        if not cpu:
            torch.cuda.reset_peak_memory_stats(device)
        with record_function(MEASURED_RUN):
            fn()
            sync(device)
    gflops = _window_gflops(prof)
    if not cpu:
        return dict(peak_mib=torch.cuda.max_memory_allocated(device) / MiB,
                    fwd_gflops=gflops)
    above = _peak_of_running_sum(prof)
    return dict(peak_mib=(start + above) / MiB, state_mib=start / MiB,
                peak_above_state_mib=above / MiB, fwd_gflops=gflops)


def executed_flops(fn: Callable[[], None]) -> dict:
    """The FLOPs one run executes (``FlopCounterMode``: convolutions and
    matmuls, forward and backward kernels as autograd ran them)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    by_op = {str(op): n / 1e9
             for op, n in counter.get_flop_counts().get('Global', {}).items()}
    return dict(executed_gflops=counter.get_total_flops() / 1e9,
                executed_gflops_by_op=by_op)


class Case:
    """One thing to time: a callable, its kind, its memory baseline and,
    for a search iteration, the clock that splits it into phases."""

    def __init__(self, name: str, kind: str, fn: Callable[[], None],
                 base: Optional[Callable[[], int]],
                 info: Optional[dict] = None,
                 clock: Optional[PhaseClock] = None,
                 batch: Optional[int] = None):
        self.name, self.kind, self.fn, self.base = name, kind, fn, base
        self.info = info or {}
        self.clock = clock
        self.batch = batch
        self.times: List[float] = []
        self.phase_times: Dict[str, List[float]] = {}
        self.mem: dict = {}
        self.flops: dict = {}

    @property
    def key(self) -> str:
        return f'{self.kind}:{self.name}'

    def run(self, device: torch.device, record: bool) -> float:
        if self.clock is None:
            dt = timed(self.fn, device)
        else:
            self.clock.arm()
            dt = timed(self.fn, device)
            phases = self.clock.disarm()
            missing = [p for p in PHASES if p not in phases]
            if missing:
                raise RuntimeError(
                    f'{self.key}: the iteration marked no {missing} phase '
                    '(the split needs the search iteration to call '
                    "set_step('arch') / set_step('weight') / set_step(None)"
                    ' around its steps)')
            if record:
                for p in PHASES:
                    self.phase_times.setdefault(p, []).append(phases[p])
        if record:
            self.times.append(dt)
        return dt


def train_case(name, model, batch_fn, optim_wrapper, wrappers, info=None,
               clock=None, batch=None):
    def fn():
        model.train_step(batch_fn(), optim_wrapper)
    model.train()
    return Case(name, 'train', fn, lambda: state_bytes(model, wrappers),
                info, clock, batch)


def infer_case(name, model, batch_fn, info=None, batch=None):
    def fn():
        with torch.no_grad():
            model.test_step(batch_fn())
    model.eval()
    return Case(name, 'infer', fn, lambda: state_bytes(model, []), info,
                batch=batch)


def split_search_steps(model, clock: PhaseClock) -> None:
    """Mark the architecture and the weight step of ``model``'s search
    iteration on ``clock``: ``MTLNAS.bilevel_step`` calls
    ``set_step('arch')`` before the architecture step, ``set_step('weight')``
    between the steps and ``set_step(None)`` after the weight step; the
    instance's ``set_step`` is wrapped to mark there (the model is
    otherwise unchanged)."""
    set_step = model.set_step

    def marked(step):
        clock.mark(step)
        set_step(step)
    model.set_step = marked


# ----------------------------------------------------------------------
# the FLOP floor: the network's 3x3 convolutions
# ----------------------------------------------------------------------
def conv_flops(x_shape: Sequence[int], w_shape: Sequence[int],
               y_shape: Sequence[int]) -> float:
    """Forward FLOPs of one convolution (2 per multiply-add; the formula of
    torch.profiler / FlopCounterMode): ``2 N C_out H_out W_out C_in/g k^2``
    (``w_shape[1]`` is already ``C_in / groups``)."""
    n, c_out = y_shape[0], y_shape[1]
    k = 1
    for s in w_shape[2:]:
        k *= s
    out = 1
    for s in y_shape[2:]:
        out *= s
    return 2.0 * n * c_out * out * w_shape[1] * k


def conv3x3_inventory(model, batch: dict) -> List[dict]:
    """Every distinct 3x3 convolution of one training forward of
    ``model`` on ``batch`` (shapes and arguments; ``count``: how often)."""
    found: Dict[tuple, dict] = {}

    def hook(mod, inputs, output):
        x = inputs[0]
        key = (tuple(x.shape), tuple(mod.weight.shape), mod.stride,
               mod.padding, mod.dilation, mod.groups, mod.bias is not None)
        if key not in found:
            found[key] = dict(
                input=list(x.shape), weight=list(mod.weight.shape),
                output=list(output.shape), stride=list(mod.stride),
                padding=list(mod.padding), dilation=list(mod.dilation),
                groups=mod.groups, bias=mod.bias is not None, count=0)
        found[key]['count'] += 1

    handles = [
        m.register_forward_hook(hook) for m in model.modules()
        if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3)
        and m.padding_mode == 'zeros' and not isinstance(m.padding, str)
    ]
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            data = model.data_preprocessor(copy.deepcopy(batch), True)
            model(data['inputs'], data['data_samples'], mode='tensor')
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return list(found.values())


def conv_floor_case(inventory: List[dict], device: torch.device,
                    seed: int = 0) -> Case:
    """The conv throughput micro-benchmark: each distinct 3x3 conv of
    ``inventory`` once, forward + input and weight gradients (fresh
    gradient buffers every run, as in training)."""
    g = torch.Generator().manual_seed(seed)
    convs, work = [], 0.0
    for c in inventory:
        x = torch.randn(c['input'], generator=g).to(device)
        w = (0.05 * torch.randn(c['weight'], generator=g)).to(device)
        b = torch.zeros(c['weight'][0], device=device) if c['bias'] else None
        grad = torch.randn(c['output'], generator=g).to(device)
        for t in (x, w, b):
            if t is not None:
                t.requires_grad_(True)
        convs.append((x, w, b, grad, tuple(c['stride']),
                      tuple(c['padding']), tuple(c['dilation']),
                      c['groups']))
        work += 3 * conv_flops(c['input'], c['weight'], c['output']) / 1e9

    def fn():
        for x, w, b, grad, stride, padding, dilation, groups in convs:
            y = F.conv2d(x, w, b, stride, padding, dilation, groups)
            y.backward(grad)
            x.grad = w.grad = None
            if b is not None:
                b.grad = None
    info = dict(
        convs=len(convs), work_gflops=work,
        backend=('cuDNN' if device.type == 'cuda' else
                 'oneDNN' if torch.backends.mkldnn.is_available() and
                 torch.backends.mkldnn.enabled else 'native'),
        shapes=inventory,
        what='each distinct 3x3 conv of the single-task pair once: '
        'F.conv2d forward + backward (input and weight gradients)')
    return Case('conv3x3', 'floor', fn, None, info)


def iteration_work(f_search: float, f_single: float) -> Dict[str, float]:
    """GFLOPs a search iteration cannot avoid (module docstring: ``F`` the
    forward of one search step, ``F_1`` the single-task pair's,
    ``F_fuse = F - F_1``)."""
    f_fuse = f_search - f_single
    arch = 2 * f_search + f_fuse
    weight = 3 * f_search
    return dict(forward=f_search, single_forward=f_single,
                fusion_forward=f_fuse, arch_step=arch, weight_step=weight,
                search_iter=arch + weight, single_step=3 * f_single)


# ----------------------------------------------------------------------
# the official implementation (bhpfelix/MTLNAS, user-provided checkout)
# ----------------------------------------------------------------------
def import_official(root: str) -> SimpleNamespace:
    """Import the official code from the checkout ``root`` (through
    ``sys.path``); a clear ``SystemExit`` if that is impossible."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise SystemExit(f'--official-root {root}: no such directory')
    missing = [f for f in OFFICIAL_FILES
               if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise SystemExit(
            f'--official-root {root}: not a checkout of the official MTL-NAS '
            f'code (bhpfelix/MTLNAS): missing {missing}')
    loaded = sys.modules.get('core')
    if loaded is not None:
        where = os.path.dirname(os.path.abspath(
            getattr(loaded, '__file__', None) or '.'))
        if os.path.dirname(where) != root:
            raise SystemExit(
                f'--official-root {root}: a different module named "core" '
                f'is already imported ({where}); the official code is a '
                'top-level package "core": run the benchmark in a fresh '
                'process')
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            config = importlib.import_module('core.config')
            models = importlib.import_module('core.models')
            tasks = importlib.import_module('core.tasks')
    except ModuleNotFoundError as e:
        raise SystemExit(
            f'--official-root {root}: the official code imports "{e.name}", '
            f'which is not installed here (its requirements.txt lists it; '
            f'e.g. pip install {e.name})') from e
    except Exception as e:  # noqa: BLE001 (any failure: say why)
        raise SystemExit(
            f'--official-root {root}: importing the official code failed on '
            f'torch {torch.__version__} (it was written for torch 1.4): '
            f'{type(e).__name__}: {e}') from e
    return SimpleNamespace(root=root, cfg=config.cfg,
                           get_model=models.get_model,
                           get_tasks=tasks.get_tasks)


def official_config(off: SimpleNamespace, single: bool = False):
    """The official default NYUv2 search config (random init); with
    ``single`` its single-task pair (same columns, no search space)."""
    c = off.cfg.clone()
    c.merge_from_file(os.path.join(off.root, OFFICIAL_SEARCH_CONFIG))
    c.TRAIN.WEIGHT_1 = ''
    c.TRAIN.WEIGHT_2 = ''
    if single:
        c.ARCH.SEARCHSPACE = ''
        c.MODEL.SINGLETASK = True
    c.freeze()
    return c


def official_optimizers(model, c, search: bool):
    """The official optimizers (``tools/train_nas.py`` / ``tools/train.py``:
    parameter groups by name, SGD with the poly LambdaLR; for the search
    also the architecture optimizer, Adam unless ``ARCH.OPTIMIZER`` is
    ``'sgd'``)."""
    named = model.named_net_parameters() if search else \
        model.named_parameters()
    base, fc8_w, fc8_b, fusion = [], [], [], []
    fc_id = model.net1.fc_id
    for name, p in named:
        if 'paths' in name or 'nddrs' in name:
            fusion.append(p)
        elif fc_id in name:
            (fc8_w if 'weight' in name else fc8_b).append(p)
        else:
            base.append(p)
    lr = c.TRAIN.LR
    groups = [dict(params=base),
              dict(params=fc8_w, lr=lr * c.TRAIN.FC8_WEIGHT_FACTOR),
              dict(params=fc8_b, lr=lr * c.TRAIN.FC8_BIAS_FACTOR),
              dict(params=fusion, lr=lr * c.TRAIN.NDDR_FACTOR)]
    optimizer = torch.optim.SGD([g for g in groups if g['params']], lr=lr,
                                momentum=c.TRAIN.MOMENTUM,
                                weight_decay=c.TRAIN.WEIGHT_DECAY)
    steps, power = c.TRAIN.STEPS, c.TRAIN.POWER
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (1 - float(step) / steps)**power)
    arch_optimizer = None
    if search:
        if c.ARCH.OPTIMIZER == 'sgd':
            arch_optimizer = torch.optim.SGD(
                model.arch_parameters(), lr=c.ARCH.LR,
                momentum=c.TRAIN.MOMENTUM, weight_decay=c.ARCH.WEIGHT_DECAY)
        else:
            arch_optimizer = torch.optim.Adam(
                model.arch_parameters(), lr=c.ARCH.LR, betas=(0.5, 0.999),
                weight_decay=c.ARCH.WEIGHT_DECAY)
    return optimizer, scheduler, arch_optimizer


def official_batch(batch: dict, mean, std):
    """The project's batch as the official loader yields it: float images
    (normalised), labels ``(N, 1, H, W)``, normals ``(N, 3, H, W)``."""
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    images = torch.stack([(img.float() - mean) / std
                          for img in batch['inputs']])
    seg = torch.stack([s.gt_sem_seg.data for s in batch['data_samples']])
    normal = torch.stack(
        [s.gt_normal_map.data for s in batch['data_samples']])
    return images, seg.long(), normal.float()


def build_official_cases(off: SimpleNamespace, batch: dict, mean, std,
                         device: torch.device, wanted) -> List[Case]:
    """The official search iteration (split into its steps) and the
    official single-task-pair training step."""
    images, seg, normal = official_batch(batch, mean, std)
    n = images.shape[0]

    def inputs():
        # the official loop moves every batch to the device itself
        return images.to(device), (seg.to(device), normal.to(device))

    cases = []
    for single in (False, True):
        name = 'single' if single else 'search_iter'
        if not wanted('official', name):
            continue
        c = official_config(off, single)
        torch.manual_seed(0)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                task1, task2 = off.get_tasks(c)
                model = off.get_model(c, task1, task2).to(device)
        except Exception as e:  # noqa: BLE001 (any failure: say why)
            raise SystemExit(
                f'--official-root {off.root}: building the official '
                f'{name} model failed: {type(e).__name__}: {e}') from e
        model.train()
        optimizer, scheduler, arch_optimizer = official_optimizers(
            model, c, search=not single)
        info = dict(config=OFFICIAL_SEARCH_CONFIG + (
            ' + ARCH.SEARCHSPACE="" MODEL.SINGLETASK=True' if single else ''),
            model=type(model).__name__, params=count_params(model),
            root=off.root)
        optimizers = [optimizer] + ([arch_optimizer] if arch_optimizer
                                    else [])
        if single:
            def fn(model=model, optimizer=optimizer, scheduler=scheduler):
                x, labels = inputs()
                optimizer.zero_grad()
                result = model.loss(x, labels)
                result.loss.backward()
                optimizer.step()
                model.step()
                scheduler.step()
            clock = None
        else:
            clock = PhaseClock(device)
            info.update(
                edges=int(model.net1_connectivity_matrix.sum()
                          + model.net2_connectivity_matrix.sum()),
                arch_optimizer=type(arch_optimizer).__name__,
                weight_step_gates='gumbel' if c.ARCH.HARD_WEIGHT_TRAINING
                else 'sigmoid',
                arch_step_gates='gumbel' if c.ARCH.HARD_ARCH_TRAINING
                else 'sigmoid')

            def fn(model=model, optimizer=optimizer, scheduler=scheduler,
                   arch_optimizer=arch_optimizer, clock=clock):
                clock.mark(ARCH_STEP)
                x, labels = inputs()
                model.arch_train()
                arch_optimizer.zero_grad()
                model.loss(x, labels).loss.backward()
                arch_optimizer.step()
                model.arch_eval()
                clock.mark(WEIGHT_STEP)
                x, labels = inputs()
                optimizer.zero_grad()
                model.loss(x, labels).loss.backward()
                optimizer.step()
                model.step()
                scheduler.step()
                clock.mark(None)

        def base(model=model, optimizers=optimizers):
            return state_bytes(model, optimizers)
        cases.append(Case(name, 'official', fn, base, info, clock, n))
    return cases


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
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                        help='wall time, or the thread CPU time (CPU, '
                        '--threads 1; for a machine shared with other '
                        'jobs)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--kept', type=int, default=4,
                        help='edges kept by the derived model (default 4)')
    parser.add_argument('--official-root', default=None, metavar='DIR',
                        help='a checkout of the official MTL-NAS code '
                        '(bhpfelix/MTLNAS): time its search iteration and '
                        'single-task step interleaved with the project\'s')
    parser.add_argument('--out', default=None, help='write the JSON here')
    parser.add_argument('--markdown', default=None,
                        help='write the markdown tables of the result here')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--only', nargs='+', default=None,
                        help='run only these cases (name or kind:name, e.g. '
                        'train:search_iter official:search_iter '
                        'floor:conv3x3)')
    parser.add_argument('--note', default=None,
                        help='free text stored in the JSON (e.g. the load '
                        'of the machine)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every project config '
                        '(single, nddr, search), xxx=yyy format')
    parser.add_argument('--search-cfg-options', nargs='+', action=DictAction,
                        help='override settings of the search config only '
                        '(e.g. its optim_wrapper.weight / .arch), xxx=yyy')
    return parser.parse_args(argv)


def pick_edges(edges, k: int):
    """``k`` candidate edges spread evenly over the candidate order."""
    k = max(0, min(k, len(edges)))
    return [edges[(j * len(edges)) // k] for j in range(k)]


def search_optim_wrappers(scfg: Config, path: str):
    """The ``BilevelOptimWrapperConstructor`` of a search config."""
    ow_cfg = copy.deepcopy(dict(scfg.optim_wrapper))
    if ow_cfg.pop('constructor', None) != 'BilevelOptimWrapperConstructor':
        raise ValueError(f'{path}: expected a BilevelOptimWrapperConstructor '
                         'optim_wrapper')
    return BilevelOptimWrapperConstructor(ow_cfg,
                                          ow_cfg.pop('paramwise_cfg', None))


def recipe_entropy_weight(scfg: Config) -> float:
    """The regulariser weight of the recipe once MinEntropyHook switched
    it on."""
    weight = 10.0
    for hook in scfg.get('custom_hooks', []):
        if hook.get('type') == 'MinEntropyHook':
            weight = float(hook.get('entropy_weight', weight))
    return weight


def build_cases(args, device, official: Optional[SimpleNamespace] = None
                ) -> List[Case]:
    h, w = args.size
    paths = CONFIGS[args.backbone]
    cfgs = {k: load_cfg(v) for k, v in paths.items()}
    for key, cfg in cfgs.items():
        if getattr(args, 'cfg_options', None):
            cfg.merge_from_dict(args.cfg_options)
        if key == 'search' and getattr(args, 'search_cfg_options', None):
            cfg.merge_from_dict(args.search_cfg_options)
    init_default_scope(cfgs['search'].get('default_scope', 'mmseg'))
    num_classes = cfgs['single'].model.tasks.seg.head.num_classes
    only = set(args.only or [])

    def wanted(kind: str, name: str) -> bool:
        return not only or name in only or f'{kind}:{name}' in only

    def num_edges(model) -> int:
        edges = getattr(model.backbone, 'edges', None)
        return len(edges.edges) if edges is not None else 0
    base_batch = make_batch(args.batch, h, w, num_classes)
    n = args.batch

    def batch_fn():
        return copy.deepcopy(base_batch)

    def search_batch_fn():
        return {WEIGHT_STEP: copy.deepcopy(base_batch),
                ARCH_STEP: copy.deepcopy(base_batch)}

    cases: List[Case] = []
    # -------- baselines: plain training step with the config's optimizer
    single_model = None
    for key in ('single', 'nddr'):
        cfg = cfgs[key]
        info = None
        if wanted('train', key) or (key == 'single'
                                    and wanted('floor', 'conv3x3')):
            model = build_model(cfg.model, device)
            wrapper = build_optim_wrapper(model,
                                          copy.deepcopy(cfg.optim_wrapper))
            info = dict(config=paths[key], params=count_params(model),
                        edges=num_edges(model))
            if key == 'single':
                single_model = model
            if wanted('train', key):
                cases.append(train_case(key, model, batch_fn, wrapper,
                                        [wrapper], info, batch=n))
        if wanted('infer', key):
            model = build_model(cfg.model, device)
            info = info or dict(config=paths[key], params=count_params(model),
                                edges=num_edges(model))
            cases.append(infer_case(key, model, batch_fn, info, batch=n))

    # -------- the search iteration, split into its two steps
    scfg = cfgs['search']
    search_info = dict(config=paths['search'])
    model_s = None
    if wanted('train', 'search_iter') or wanted('infer', 'derived'):
        constructor = search_optim_wrappers(scfg, paths['search'])
        entropy_weight = recipe_entropy_weight(scfg)
        model_s = build_model(scfg.model, device)
        model_s.set_regularizer_weight(entropy_weight)
        wrappers_s = constructor(model_s)
        search_info.update(params=count_params(model_s),
                           edges=len(model_s.search_space.edges))
        clock = PhaseClock(device)
        split_search_steps(model_s, clock)
        if wanted('train', 'search_iter'):
            cases.append(train_case(
                'search_iter', model_s, search_batch_fn, wrappers_s,
                [wrappers_s[WEIGHT_STEP], wrappers_s[ARCH_STEP]],
                dict(search_info, entropy_weight=entropy_weight,
                     step_gate_modes=dict(
                         model_s.search_space.step_gate_modes)),
                clock, batch=n))

    # -------- derived model (fixed architecture, few kept edges)
    if wanted('infer', 'derived'):
        edges = list(model_s.search_space.edges)
        kept = pick_edges(edges, args.kept)
        arch = Architecture(edges, kept, tasks=model_s.search_space.tasks)
        dmodel_cfg = copy.deepcopy(scfg.model)
        dmodel_cfg.fix_subnet = arch
        derived = build_model(dmodel_cfg, device)
        derived.load_state_dict(model_s.state_dict())
        cases.append(infer_case(
            'derived', derived, batch_fn,
            dict(search_info, kept=len(kept),
                 kept_edges=[e.key for e in kept], gate_mode='fixed'),
            batch=n))

    # -------- supernet inference: every edge, sigmoid gates
    if wanted('infer', 'supernet'):
        supernet = build_model(scfg.model, device)
        supernet.search_space.eval_gate_mode = 'sigmoid'
        cases.append(infer_case(
            'supernet', supernet, batch_fn,
            dict(search_info, params=count_params(supernet),
                 edges=len(supernet.search_space.edges),
                 eval_gate_mode='sigmoid'), batch=n))

    # -------- the conv throughput of the FLOP floor
    if wanted('floor', 'conv3x3'):
        inventory = conv3x3_inventory(single_model, base_batch)
        cases.append(conv_floor_case(inventory, device))

    # -------- the official implementation
    if official is not None:
        pre = scfg.model.network.data_preprocessor
        cases += build_official_cases(official, base_batch, pre.mean,
                                      pre.std, device, wanted)
    if not cases:
        raise SystemExit(f'--only {args.only}: no such case')
    return cases


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _median_entry(times: List[float]) -> dict:
    return dict(median_s=statistics.median(times), min_s=min(times),
                max_s=max(times), times_s=times)


def summarise(cases: List[Case], backbone: str = OFFICIAL_BACKBONE) -> dict:
    results: Dict[str, Dict[str, dict]] = {}
    for c in cases:
        entry = _median_entry(c.times)
        if c.batch:
            entry['images_per_s'] = c.batch / entry['median_s']
        if c.phase_times:
            entry['phases'] = {p: _median_entry(t)
                               for p, t in c.phase_times.items()}
        entry.update(c.mem)
        entry.update(c.flops)
        entry.update(c.info)
        results.setdefault(c.kind, {})[c.name] = entry

    def get(kind, name, key='median_s'):
        return results.get(kind, {}).get(name, {}).get(key)

    def phase(kind, name, step):
        return results.get(kind, {}).get(name, {}).get(
            'phases', {}).get(step, {}).get('median_s')

    # -------- the FLOP floor
    conv = results.get('floor', {}).get('conv3x3')
    throughput = (conv['work_gflops'] / conv['median_s']
                  if conv else None)
    if conv:
        conv['gflops_per_s'] = throughput
    floor: Dict[str, dict] = dict(
        conv3x3_gflops_per_s=throughput,
        method=('work (GFLOP) / conv3x3 throughput; work from the profiled '
                'forward GFLOPs: architecture step 2 F + F_fuse, weight '
                'step 3 F, search iteration 5 F + F_fuse, single-task-pair '
                'step 3 F_1, inference F (F: one search forward, F_1: the '
                'single-task pair, F_fuse = F - F_1)'))
    for impl in ('train', 'official'):
        f_iter = get(impl, 'search_iter', 'fwd_gflops')
        f_one = get(impl, 'single', 'fwd_gflops')
        if f_iter is None or f_one is None:
            continue
        work = iteration_work(f_iter / 2, f_one)
        measured = dict(arch_step=phase(impl, 'search_iter', ARCH_STEP),
                        weight_step=phase(impl, 'search_iter', WEIGHT_STEP),
                        search_iter=get(impl, 'search_iter'),
                        single_step=get(impl, 'single'))
        floor_s = {k: ratio(work[k], throughput) for k in measured}
        floor['mtlnas_mm' if impl == 'train' else 'official'] = dict(
            work_gflops=work, floor_s=floor_s,
            measured_vs_floor={k: ratio(measured[k], floor_s[k])
                               for k in measured})
    infer_floor = {}
    for name, r in results.get('infer', {}).items():
        fs = ratio(r.get('fwd_gflops'), throughput)
        infer_floor[name] = dict(work_gflops=r.get('fwd_gflops'),
                                 floor_s=fs,
                                 measured_vs_floor=ratio(r['median_s'], fs))
    if infer_floor:
        floor['inference'] = infer_floor

    # -------- the targets
    f_search = get('train', 'search_iter', 'fwd_gflops')
    f_single = get('train', 'single', 'fwd_gflops')
    flop_ratio = ratio(None if f_search is None else f_search / 2, f_single)
    comparable = backbone == OFFICIAL_BACKBONE
    values = dict(
        search_iter_speedup_vs_official=ratio(
            get('official', 'search_iter'), get('train', 'search_iter')),
        search_iter_vs_floor=floor.get('mtlnas_mm', {}).get(
            'measured_vs_floor', {}).get('search_iter'),
        weight_step_vs_single_step=ratio(
            phase('train', 'search_iter', WEIGHT_STEP),
            get('train', 'single')),
        search_mem_vs_official=ratio(
            get('train', 'search_iter', 'peak_mib'),
            get('official', 'search_iter', 'peak_mib')),
        derived_infer_vs_single=ratio(get('infer', 'derived'),
                                      get('infer', 'single')))
    flop_values = dict(
        search_iter_speedup_vs_official=None,
        search_iter_vs_floor=1.0,
        weight_step_vs_single_step=flop_ratio,
        search_mem_vs_official=None,
        derived_infer_vs_single=ratio(get('infer', 'derived', 'fwd_gflops'),
                                      get('infer', 'single', 'fwd_gflops')))
    targets = {}
    for name, direction, limit, desc in TARGETS:
        if limit is None:
            limit = flop_ratio
        v = values[name]
        note = None
        if name.endswith('_official') and not comparable and v is not None:
            note = (f'not judged: the official network is the full VGG-16, '
                    f'the project ran --backbone {backbone}')
        passed = None
        if v is not None and limit is not None and note is None:
            passed = bool(v >= limit if direction == '>=' else v <= limit)
        targets[name] = dict(value=v, direction=direction, limit=limit,
                             description=desc, passed=passed,
                             flop_model_value=flop_values[name])
        if note:
            targets[name]['note'] = note

    # -------- ratios against the single-task pair and the official code
    vs_single = {}
    for kind in ('train', 'infer'):
        for name in results.get(kind, {}):
            vs_single[f'{kind}:{name}'] = dict(
                time=ratio(get(kind, name), get(kind, 'single')),
                memory=ratio(get(kind, name, 'peak_mib'),
                             get(kind, 'single', 'peak_mib')))
    out = dict(results=results, vs_single=vs_single, floor=floor,
               targets=targets)
    if 'official' in results:
        out['vs_official'] = dict(
            search_iter=ratio(get('train', 'search_iter'),
                              get('official', 'search_iter')),
            arch_step=ratio(phase('train', 'search_iter', ARCH_STEP),
                            phase('official', 'search_iter', ARCH_STEP)),
            weight_step=ratio(phase('train', 'search_iter', WEIGHT_STEP),
                              phase('official', 'search_iter', WEIGHT_STEP)),
            single_step=ratio(get('train', 'single'),
                              get('official', 'single')),
            search_peak_memory=ratio(
                get('train', 'search_iter', 'peak_mib'),
                get('official', 'search_iter', 'peak_mib')),
            comparable=comparable,
            what='mtlnas_mm / official (below 1: the project is faster / '
            'smaller)')
    return out


def fmt(v, spec='.2f', none='-'):
    return none if v is None else format(v, spec)


def fmt_gf(v, none='-'):
    """GFLOPs: one decimal from 10 on, three significant digits below."""
    return none if v is None else format(v, '.1f' if abs(v) >= 10 else '.3g')


WHAT = {
    'train:single': 'training step, single-task pair',
    'train:nddr': 'training step, NDDR-CNN',
    'train:search_iter': 'search iteration (architecture + weight step)',
    'train:search_iter/arch': '  architecture step',
    'train:search_iter/weight': '  weight step',
    'infer:single': 'inference, single-task pair',
    'infer:nddr': 'inference, NDDR-CNN',
    'infer:derived': 'inference, derived model ({} of {} edges)',
    'infer:supernet': 'inference, all-edges supernet (sigmoid gates)',
}


def markdown(result: dict) -> str:
    s = result['settings']
    m = result['machine']
    load = m.get('load_average')
    lines = [
        f"{s['backbone']}, {s['batch']} x 3 x {s['size'][0]} x "
        f"{s['size'][1]}, median of {s['repeats']} runs after "
        f"{s['warmup']} warm-up runs, cases interleaved; {m['device']}: "
        f"{m.get('gpu', m['cpu_model'])} ({m['cpu_usable']} cores usable, "
        f"{m['torch_threads']} torch threads"
        + (f", load average {load[0]:.2f} at the end" if load else '')
        + f"), torch {m['torch']}; memory: {result['memory_method']}.",
        '',
        '| case | what | time (s) | x single | peak mem (MiB) | x single '
        '| fwd GFLOPs | executed GFLOPs | FLOP floor (s) | x floor '
        '| images/s |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    res = result['results']
    floor = result['floor']
    ours = floor.get('mtlnas_mm', {})
    step_floor = {'train:single': 'single_step',
                  'train:search_iter': 'search_iter',
                  'train:search_iter/arch': 'arch_step',
                  'train:search_iter/weight': 'weight_step'}

    def row(key, desc, r, t, vs=None, batch=None):
        fs = ours.get('floor_s', {}).get(step_floor.get(key, ''))
        if key.startswith('infer:'):
            fs = floor.get('inference', {}).get(key[6:], {}).get('floor_s')
        vs = vs or {}
        lines.append(
            f"| {key} | {desc} | {fmt(t, '.3f')} | {fmt(vs.get('time'))} | "
            f"{fmt(r.get('peak_mib'), '.0f')} | {fmt(vs.get('memory'))} | "
            f"{fmt_gf(r.get('fwd_gflops'))} | "
            f"{fmt_gf(r.get('executed_gflops'))} | {fmt(fs, '.3f')} | "
            f"{fmt(ratio(t, fs))} | {fmt(ratio(batch, t), '.2f')} |")

    for kind in ('train', 'infer'):
        for name, r in res.get(kind, {}).items():
            key = f'{kind}:{name}'
            desc = WHAT.get(key, key)
            if name == 'derived':
                desc = desc.format(r.get('kept'), r.get('edges'))
            row(key, desc, r, r['median_s'], result['vs_single'][key],
                s['batch'])
            for p, pr in r.get('phases', {}).items():
                row(f'{key}/{p}', WHAT.get(f'{key}/{p}', p), {},
                    pr['median_s'])
    conv = res.get('floor', {}).get('conv3x3')
    if conv:
        lines += ['', f"FLOP floor: the network's {conv['convs']} distinct "
                  f"3x3 convs, forward + input and weight gradients "
                  f"({conv['backend']}): {fmt_gf(conv['work_gflops'])} "
                  f"GFLOP in "
                  f"{conv['median_s']:.3f} s = "
                  f"**{fmt(floor['conv3x3_gflops_per_s'], '.1f')} GFLOP/s**."]
        for impl in ('mtlnas_mm', 'official'):
            f = floor.get(impl)
            if not f:
                continue
            wk, vf = f['work_gflops'], f['measured_vs_floor']
            lines.append(
                f"{impl}: F = {fmt_gf(wk['forward'])}, F_1 = "
                f"{fmt_gf(wk['single_forward'])}, F_fuse = "
                f"{fmt_gf(wk['fusion_forward'])} GFLOP; iteration work "
                f"5 F + F_fuse = {fmt_gf(wk['search_iter'])} GFLOP, floor "
                f"{fmt(f['floor_s']['search_iter'], '.3f')} s, measured "
                f"{fmt(vf['search_iter'])}x it (architecture step "
                f"{fmt(vf['arch_step'])}x, weight step "
                f"{fmt(vf['weight_step'])}x, single-task step "
                f"{fmt(vf['single_step'])}x).")
    if 'official' in res:
        off, vs = res['official'], result['vs_official']
        ours_r = res.get('train', {})

        def ph(r, p):
            return r.get('phases', {}).get(p, {}).get('median_s')
        it_o, it_m = off.get('search_iter', {}), ours_r.get('search_iter', {})
        lines += [
            '', 'Against the official implementation '
            f"({next(iter(off.values()))['root']}"
            + ('' if vs['comparable'] else
               '; **not like for like**: the official network is the full '
               'VGG-16') + '):', '',
            '| case | official | mtlnas_mm | mtlnas_mm / official |',
            '|---|---:|---:|---:|',
            f"| search iteration (s) | {fmt(it_o.get('median_s'), '.3f')} | "
            f"{fmt(it_m.get('median_s'), '.3f')} | {fmt(vs['search_iter'])} |",
            f"| architecture step (s) | {fmt(ph(it_o, ARCH_STEP), '.3f')} | "
            f"{fmt(ph(it_m, ARCH_STEP), '.3f')} | {fmt(vs['arch_step'])} |",
            f"| weight step (s) | {fmt(ph(it_o, WEIGHT_STEP), '.3f')} | "
            f"{fmt(ph(it_m, WEIGHT_STEP), '.3f')} | "
            f"{fmt(vs['weight_step'])} |",
            f"| single-task-pair training step (s) | "
            f"{fmt(off.get('single', {}).get('median_s'), '.3f')} | "
            f"{fmt(ours_r.get('single', {}).get('median_s'), '.3f')} | "
            f"{fmt(vs['single_step'])} |",
            f"| search peak memory (MiB) | {fmt(it_o.get('peak_mib'), '.0f')}"
            f" | {fmt(it_m.get('peak_mib'), '.0f')} | "
            f"{fmt(vs['search_peak_memory'])} |",
            f"| search iteration, forward GFLOPs | "
            f"{fmt_gf(it_o.get('fwd_gflops'))} | "
            f"{fmt_gf(it_m.get('fwd_gflops'))} | "
            f"{fmt(ratio(it_m.get('fwd_gflops'), it_o.get('fwd_gflops')))} |",
            f"| search iteration, executed GFLOPs | "
            f"{fmt_gf(it_o.get('executed_gflops'))} | "
            f"{fmt_gf(it_m.get('executed_gflops'))} | "
            f"{fmt(ratio(it_m.get('executed_gflops'), it_o.get('executed_gflops')))}"  # noqa: E501
            ' |']
    lines += ['', '| target | measured | limit | result | FLOP model |',
              '|---|---:|---:|---|---:|']
    for name, t in result['targets'].items():
        passed = {True: 'pass', False: '**fail**', None: '-'}[t['passed']]
        if t.get('note'):
            passed = 'not judged'
        lines.append(f"| {t['description']} | {fmt(t['value'], '.3f')} | "
                     f"{t['direction']} {fmt(t['limit'], '.3g')} | {passed} "
                     f"| {fmt(t['flop_model_value'], '.3f')} |")
    return '\n'.join(lines) + '\n'


def target_lines(result: dict) -> List[str]:
    """One line per target: PASS / FAIL / n/a and the figures."""
    out = []
    for name, t in result['targets'].items():
        verdict = {True: 'PASS', False: 'FAIL', None: 'n/a'}[t['passed']]
        why = t.get('note') or ('' if t['value'] is not None else
                                'not measured in this run')
        out.append(f"target {name}: {verdict}  {fmt(t['value'], '.3f')} "
                   f"{t['direction']} {fmt(t['limit'], '.3g')}"
                   + (f'  ({why})' if why else ''))
    return out


def run_cases(cases: List[Case], device: torch.device, warmup: int,
              repeats: int) -> None:
    """Warm-up, timed rounds (round-robin), then per case one profiled
    run (memory, forward FLOPs) and one counted run (executed FLOPs)."""
    for r in range(warmup):
        for c in cases:
            dt = c.run(device, record=False)
            log(f'  warm-up {r + 1}/{warmup} {c.key}: {dt:.3f}s')
    for r in range(repeats):
        for c in cases:
            c.run(device, record=True)
        log(f'  repeat {r + 1}/{repeats}: ' + ', '.join(
            f'{c.key} {c.times[-1]:.3f}s' for c in cases))
    # counted with the 1x1 convs on torch's kernels: the same computation
    # and saved tensors, but neither torch.profiler's with_flops nor
    # FlopCounterMode has a FLOP formula for the oneDNN path's
    # aten::mkldnn_convolution (mtlnas_mm.models.layers.conv1x1)
    with conv1x1_backend('torch'):
        for c in cases:
            if c.base is not None:
                c.mem = profiled_run(c.fn, device, c.base)
                log(f'  memory {c.key}: {c.mem["peak_mib"]:.0f} MiB, '
                    f'{c.mem["fwd_gflops"]:.1f} forward GFLOPs')
            c.flops = executed_flops(c.fn)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.repeats < 1:
        raise SystemExit('--repeats must be >= 1')
    for path in (args.out, args.markdown):  # refused before measuring
        if path:
            claim_output_file(path, 'benchmark.py', args.overwrite)
    # stdout carries the JSON only: mmengine logs (init_weights reports ...)
    # go to stderr, below WARNING not at all
    with contextlib.redirect_stdout(sys.stderr):
        MMLogger.get_instance('mtlnas_benchmark', log_level='WARNING')
    # a bad checkout stops the run before anything is built
    official = (import_official(args.official_root)
                if args.official_root else None)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    set_clock(args.clock, device)
    started = time.time()
    with contextlib.redirect_stdout(sys.stderr):
        cases = build_cases(args, device, official)
    log(f'benchmark: {len(cases)} cases, {args.backbone}, batch '
        f'{args.batch} x {args.size[0]}x{args.size[1]}, device {device}, '
        f'{torch.get_num_threads()} threads')
    with contextlib.redirect_stdout(sys.stderr):
        run_cases(cases, device, args.warmup, args.repeats)

    result = dict(
        machine=machine_info(device),
        settings=dict(backbone=args.backbone, size=list(args.size),
                      batch=args.batch, repeats=args.repeats,
                      warmup=args.warmup, kept=args.kept,
                      official_root=(os.path.abspath(args.official_root)
                                     if args.official_root else None),
                      cfg_options=args.cfg_options,
                      search_cfg_options=args.search_cfg_options,
                      order='round-robin over cases, median per case',
                      command=shlex.join(
                          ['python', 'tools/analysis_tools/benchmark.py'] +
                          (sys.argv[1:] if argv is None else list(argv)))),
        memory_method=(
            'torch.cuda.max_memory_allocated after reset_peak_memory_stats'
            if device.type == 'cuda' else
            'torch.profiler profile_memory=True over two runs: peak of the '
            'running sum of CPU allocator events (time order) during the '
            'second, plus the bytes alive at its start (parameters, '
            'buffers, gradients, optimizer state)'),
        time_method=(('time.thread_time (the thread CPU time; --clock '
                      'thread)' if args.clock == 'thread' else
                      'time.perf_counter') + ' around one call (train_step: '
                     'preprocess + forward + backward + optimizer step; '
                     'inference: test_step under no_grad, eval mode; the '
                     'search iteration split at its set_step calls)'
                     + ('; CUDA synchronised at every mark'
                        if device.type == 'cuda' else '')),
        flops_method=('fwd_gflops: torch.profiler with_flops (forward ops); '
                      'executed_gflops: FlopCounterMode (conv / matmul, '
                      'forward and backward); both, and the peak memory, '
                      'with the 1x1 convs on torch\'s kernels (same '
                      'computation; no FLOP formula for '
                      'aten::mkldnn_convolution)'),
    )
    if args.note:
        result['note'] = args.note
    result.update(summarise(cases, args.backbone))
    result['wall_s'] = time.time() - started
    write_json_report(result, args.out, 'benchmark.py', args.overwrite)
    table = markdown(result)
    log(table)
    for line in target_lines(result):
        log(line)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(table)
    return result


if __name__ == '__main__':
    main()
