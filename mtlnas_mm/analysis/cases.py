"""What the benchmark tools time: the project's models, configs and
synthetic batches, the cases of ``tools/analysis_tools/benchmark.py`` and
the FLOP floor.

The cases (``kind:name``) of :func:`build_cases`, all with the same
backbone and the same synthetic batch:

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
      mark the phases of the same timed call (:func:`split_search_steps`);

``infer`` (``model.test_step`` under ``torch.no_grad``, eval mode)
    * ``single``, ``nddr``;
    * ``derived``: the search model fixed (``fix_subnet``) to an
      ``Architecture`` keeping ``kept`` of the candidate edges;
    * ``supernet``: the search model with ``eval_gate_mode='sigmoid'``
      (every candidate edge computed);

``floor``
    * ``conv3x3``: the network's own 3x3 convolutions (every distinct
      shape of the single-task pair's forward at the benchmark's batch:
      input, weight, stride, padding, dilation), each run once as
      ``F.conv2d`` forward + backward (input and weight gradients): the
      machine's conv throughput in GFLOP/s (oneDNN on CPU, cuDNN on CUDA);
      ``3 x 2 N C_out H_out W_out C_in k^2`` FLOPs per conv;

``official`` (only with a checkout of the official code,
:mod:`.official`)
    * ``search_iter`` (architecture step + weight step), ``single``.

**The FLOP floor.**  With ``F`` the forward GFLOPs of one search forward
(half the search iteration's profiled count), ``F_1`` the single-task
pair's, and ``F_fuse = F - F_1`` the work of the fusion ops (the search
model's parameters are the single pair's plus the fusion ops' plus the
gate logits, so the difference is what the fusion ops compute), a step that
needs the input gradients of every layer costs one forward more and one
that needs the weight gradients of a layer costs that layer's forward more
(:func:`iteration_work`):

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
"""
import copy
import os
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from ..engine.optimizers import BilevelOptimWrapperConstructor
from ..structures import ARCH_STEP, WEIGHT_STEP, Architecture
from .timing import (Case, PhaseClock, count_params, peak_rss_mib,
                     profiled_run, state_bytes)

#: the repository checkout (the configs are not part of the package; it is
#: installed in development mode, ``pip install -e .``)
REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the project configs of each backbone (relative to :data:`REPO`)
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


# ----------------------------------------------------------------------
# configs, models, data
# ----------------------------------------------------------------------
def load_cfg(path: str) -> Config:
    """A config by its path relative to the repository (or absolute)."""
    return Config.fromfile(os.path.join(REPO, path))


def build_model(model_cfg, device: torch.device,
                seed: int = 0) -> nn.Module:
    """``MODELS.build`` of a copy of ``model_cfg``, initialised from
    ``seed``, on ``device``."""
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


def search_optim_wrappers(scfg: Config,
                          path: str) -> BilevelOptimWrapperConstructor:
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


def pick_edges(edges, k: int):
    """``k`` candidate edges spread evenly over the candidate order."""
    k = max(0, min(k, len(edges)))
    return [edges[(j * len(edges)) // k] for j in range(k)]


# ----------------------------------------------------------------------
# the search iteration
# ----------------------------------------------------------------------
def step_wrappers(wrappers) -> list:
    """The two optim wrappers of a bilevel search (weight, architecture),
    e.g. for :func:`~.timing.state_bytes`."""
    return [wrappers[WEIGHT_STEP], wrappers[ARCH_STEP]]


def search_iteration(model: nn.Module, wrappers,
                     batch: dict) -> Callable[[], None]:
    """One search iteration of ``model``: ``train_step(dict(weight=batch,
    arch=batch), wrappers)`` on fresh copies of ``batch``."""

    def step() -> None:
        model.train_step({WEIGHT_STEP: copy.deepcopy(batch),
                          ARCH_STEP: copy.deepcopy(batch)}, wrappers)
    return step


def split_search_steps(model: nn.Module, clock: PhaseClock) -> None:
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


def measure_search(model: nn.Module, wrappers, batch: dict, repeats: int,
                   warmup: int = 1,
                   clock: Optional[PhaseClock] = None) -> dict:
    """Time the search iteration of ``model`` on the CPU in this process:
    ``warmup`` untimed and ``repeats`` timed iterations (split into phases
    on ``clock`` if given, see :func:`split_search_steps`), then the peak
    resident set size (before the profiled runs, whose records would
    count) and the profiled peak memory.

    Returns ``case`` (the :class:`~.timing.Case`: ``times``,
    ``phase_times``), ``warmup_s`` (the warm-up times), ``peak_rss_mib`` and
    ``memory`` (:func:`~.timing.profiled_run`)."""
    cpu = torch.device('cpu')
    model.train()
    step = search_iteration(model, wrappers, batch)
    case = Case('search_iter', 'train', step, None, clock=clock)
    warmup_s = [case.run(cpu, record=False) for _ in range(warmup)]
    for _ in range(repeats):
        case.run(cpu, record=True)
    peak_rss = peak_rss_mib()
    memory = profiled_run(step, cpu, lambda: state_bytes(
        model, step_wrappers(wrappers)))
    return dict(case=case, warmup_s=warmup_s, peak_rss_mib=peak_rss,
                memory=memory)


# ----------------------------------------------------------------------
# the benchmark's cases
# ----------------------------------------------------------------------
def train_case(name: str, model: nn.Module, batch_fn: Callable[[], dict],
               optim_wrapper, wrappers, info: Optional[dict] = None,
               clock: Optional[PhaseClock] = None,
               batch: Optional[int] = None) -> Case:
    """``model.train_step`` on ``batch_fn()`` with ``optim_wrapper``
    (``wrappers``: those whose state counts)."""
    def fn():
        model.train_step(batch_fn(), optim_wrapper)
    model.train()
    return Case(name, 'train', fn, lambda: state_bytes(model, wrappers),
                info, clock, batch)


def infer_case(name: str, model: nn.Module, batch_fn: Callable[[], dict],
               info: Optional[dict] = None,
               batch: Optional[int] = None) -> Case:
    """``model.test_step`` on ``batch_fn()`` under ``no_grad``, eval
    mode."""
    def fn():
        with torch.no_grad():
            model.test_step(batch_fn())
    model.eval()
    return Case(name, 'infer', fn, lambda: state_bytes(model, []), info,
                batch=batch)


def build_cases(backbone: str, size: Sequence[int], batch: int,
                device: torch.device, kept: int = 4,
                only: Optional[Sequence[str]] = None,
                cfg_options: Optional[dict] = None,
                search_cfg_options: Optional[dict] = None,
                official: Optional[SimpleNamespace] = None) -> List[Case]:
    """The cases of the module docstring for ``backbone``
    (:data:`CONFIGS`) on ``batch`` images of ``size`` (H, W); ``only``:
    names or ``kind:name`` of the cases to build (default all);
    ``cfg_options`` are merged into every config, ``search_cfg_options``
    into the search config; ``official``: :func:`.official.import_official`
    of a checkout, for its cases."""
    h, w = size
    paths = CONFIGS[backbone]
    cfgs = {k: load_cfg(v) for k, v in paths.items()}
    for key, cfg in cfgs.items():
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if key == 'search' and search_cfg_options:
            cfg.merge_from_dict(search_cfg_options)
    init_default_scope(cfgs['search'].get('default_scope', 'mmseg'))
    num_classes = cfgs['single'].model.tasks.seg.head.num_classes
    wanted_set = set(only or [])

    def wanted(kind: str, name: str) -> bool:
        return (not wanted_set or name in wanted_set
                or f'{kind}:{name}' in wanted_set)

    def num_edges(model) -> int:
        edges = getattr(model.backbone, 'edges', None)
        return len(edges.edges) if edges is not None else 0
    base_batch = make_batch(batch, h, w, num_classes)
    n = batch

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
                step_wrappers(wrappers_s),
                dict(search_info, entropy_weight=entropy_weight,
                     step_gate_modes=dict(
                         model_s.search_space.step_gate_modes)),
                clock, batch=n))

    # -------- derived model (fixed architecture, few kept edges)
    if wanted('infer', 'derived'):
        edges = list(model_s.search_space.edges)
        kept_edges = pick_edges(edges, kept)
        arch = Architecture(edges, kept_edges,
                            tasks=model_s.search_space.tasks)
        dmodel_cfg = copy.deepcopy(scfg.model)
        dmodel_cfg.fix_subnet = arch
        derived = build_model(dmodel_cfg, device)
        derived.load_state_dict(model_s.state_dict())
        cases.append(infer_case(
            'derived', derived, batch_fn,
            dict(search_info, kept=len(kept_edges),
                 kept_edges=[e.key for e in kept_edges], gate_mode='fixed'),
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
        from .official import build_official_cases
        pre = scfg.model.network.data_preprocessor
        cases += build_official_cases(official, base_batch, pre.mean,
                                      pre.std, device, wanted)
    if not cases:
        raise SystemExit(f'--only {only}: no such case')
    return cases


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


def conv3x3_inventory(model: nn.Module, batch: dict) -> List[dict]:
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
