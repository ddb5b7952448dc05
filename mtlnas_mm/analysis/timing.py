"""Measurement: clocks, the phases of a search iteration, peak memory and
FLOPs of one run, the machine.

Timing: ``warmup`` untimed runs, then ``repeats`` timed runs; the runs of
all cases are interleaved round-robin (so a load change on a shared machine
hits every case alike) and the median is reported (:func:`run_cases`).  On
CUDA every timing and every phase mark synchronises the device first.  The
clock is wall time, or the calling thread's CPU time (:func:`set_clock`).

Peak memory: two extra runs under ``torch.profiler``, the second measured
(the profiler drops the free events of blocks allocated before it started:
a step that frees the previous step's gradients, as the official code's
``zero_grad()`` does on torch 2, would seem to hold both); on CUDA
``torch.cuda.max_memory_allocated`` of the second run (after
``reset_peak_memory_stats``); on CPU (``profile_memory=True``) the
allocator's allocation and free events of the second run, sorted by time,
are summed and the peak of that running sum (memory allocated during the
run above its start) is added to the bytes alive at its start (parameters,
buffers, gradients and optimizer state) (:func:`profiled_run`).
The same profiled run counts the forward FLOPs (torch.profiler
``with_flops``: convolutions, matmuls, elementwise mul / add; no backward
kernels).  One more run under ``torch.utils.flop_counter.FlopCounterMode``
counts the FLOPs actually executed (convolutions and matmuls, forward *and*
backward, as autograd ran them): ``executed_gflops``
(:func:`executed_flops`).
"""
import os
import platform
import resource
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

from ..models.layers.conv1x1 import conv1x1_backend
from ..structures import ARCH_STEP, WEIGHT_STEP

#: phases of a search iteration, in order
PHASES = (ARCH_STEP, WEIGHT_STEP)
MiB = 2.0**20


def log(msg: str) -> None:
    """A progress line on stderr (stdout carries the tools' JSON)."""
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------
# the machine and the state of a model
# ----------------------------------------------------------------------
def machine_info(device: torch.device) -> dict:
    """CPU model, usable cores, load, torch version and threads, device
    (and the GPU and cuDNN on CUDA): what a timing depends on."""
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


def state_bytes(model: torch.nn.Module, optim_wrappers) -> int:
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


def count_params(model: torch.nn.Module) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def rss_mib() -> float:
    """Current resident set size of this process."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / MiB


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (``getrusage``
    ``ru_maxrss``: it never shrinks, hence one measurement per process)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------
# clocks
# ----------------------------------------------------------------------
def sync(device: torch.device) -> None:
    """Wait for the device (CUDA) so that a clock reading covers its
    work."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


#: the clocks of ``--clock``: wall time, or the calling thread's CPU time
#: (with one torch thread on CPU: robust to other processes sharing the
#: cores, which stretch wall time but not the thread's own CPU time)
CLOCKS = {'wall': time.perf_counter, 'thread': time.thread_time}
_clock = CLOCKS['wall']


def set_clock(name: str, device: torch.device) -> None:
    """Use the clock ``name`` of :data:`CLOCKS` for every later timing
    (``'thread'`` needs the CPU and one torch thread)."""
    global _clock
    if name == 'thread' and (device.type != 'cpu'
                             or torch.get_num_threads() != 1):
        raise ValueError('--clock thread measures the calling thread only: '
                         'it needs --device cpu and --threads 1 (got '
                         f'{device.type}, {torch.get_num_threads()} '
                         'threads)')
    _clock = CLOCKS[name]


def timed(fn: Callable[[], None], device: torch.device) -> float:
    """Seconds of one call of ``fn`` on the current clock."""
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


# ----------------------------------------------------------------------
# peak memory and FLOPs
# ----------------------------------------------------------------------
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


# ----------------------------------------------------------------------
# cases and their runs
# ----------------------------------------------------------------------
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


def method_notes(device: torch.device, clock: str) -> dict:
    """How :func:`run_cases` measured (``memory_method``, ``time_method``,
    ``flops_method`` of a ``benchmark.py`` result)."""
    return dict(
        memory_method=(
            'torch.cuda.max_memory_allocated after reset_peak_memory_stats'
            if device.type == 'cuda' else
            'torch.profiler profile_memory=True over two runs: peak of the '
            'running sum of CPU allocator events (time order) during the '
            'second, plus the bytes alive at its start (parameters, '
            'buffers, gradients, optimizer state)'),
        time_method=(('time.thread_time (the thread CPU time; --clock '
                      'thread)' if clock == 'thread' else
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
