"""Fidelity of the project's MTL-NAS search to the official code
(bhpfelix/MTLNAS): the same seeded network, data and random draws run
through both, iteration by iteration, in float64.

``configs/mtlnas/mtlnas_vgg16_nyuv2_official.py`` claims to compute what the
official ``tools/train_nas.py`` computes.  This module makes that claim
checkable without storing weights or data:

* :func:`build_name_map`: the project model's parameters, BN buffers, gate
  logits and dropouts under the official names (a fixed renaming of the
  two released networks), checked to be a bijection
  (:func:`check_bijection`) against the official model or a trace's names;
* :func:`fill_from_seed`: every parameter and BN running statistic of
  either model from ONE numpy PCG64 generator (``default_rng``: the same
  numbers on every machine and numpy version), drawn in the sorted order
  of the official names, with magnitudes of a trained network;
* :func:`make_batches`: tiny seeded batches (uint8 images, labels with
  ignored pixels, normals as the official raw 0..255 PNG vectors with
  invalid pixels), the uniforms of the relaxed-Bernoulli gates
  (:func:`gate_uniforms`) and the dropout masks (:class:`SeededDropout`):
  every random number either side draws comes from the seed, identically;
* :func:`official_trace` (needs a checkout) and :func:`project_trace`
  (needs none): ``iters`` search iterations, returning the losses, gate
  gradients, gates, schedule values, learning rates and the norms of every
  tensor under the official names (JSON-able);
* :func:`compare` / :func:`format_report` / :func:`failures`: the largest
  relative difference of every quantity per iteration.

A stored official trace (``tests/data/official_fixture.json``, written by
``tools/analysis_tools/official_fixture.py``) lets the tests check the
project against the official computation with no official checkout.

Covered: the network (columns, pools, heads, fusion ops, gates), both
losses, the entropy term and its schedule, the gate temperature, both
optimizers with their parameter groups, the poly lr, BN statistics and
dropout of both steps.  Not covered here (synthetic batches are given
directly): the data pipeline and augmentation, the 50/50 split of the
train loop, multi-GPU; ``ArchitectureHook`` only logs.
"""
import contextlib
import copy
import re
import sys
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np
import torch
import torch.nn as nn

#: the project config that claims the official computation
OFFICIAL_CONFIG = 'configs/mtlnas/mtlnas_vgg16_nyuv2_official.py'
#: the official normalisation: ``transforms.Normalize(mean, 1)`` of
#: nyu_v2_mean.npy (not released; the values of the official config's
#: base, ``official_mean``), held in float32 as ``Normalize`` holds it
OFFICIAL_MEAN = (122.67891434, 116.66876762, 104.00698793)
#: images per batch and their size: the smallest cheap input of the
#: full-width VGG-16 LargeFOV pair (33x41 -> 5x6 at stride 8;
#: non-square so that a transposed map shows)
BATCH, HEIGHT, WIDTH = 2, 33, 41
#: after these iterations the traces hold the norm of every tensor
NORM_ITERS = (1, 2, 5)
#: official network -> project task (NET1 = 40-class seg, NET2 = normals)
NETS = {'net1': 'seg', 'net2': 'normal'}
#: DeepLabLargeFOVBN16: per stage, the index of its conv inside
#: ``stages.<s>.feature`` (a stride-2 pool stage opens with
#: ConstantPad2d + MaxPool2d, stage 10 with a stride-1 MaxPool2d); the BN
#: follows the conv
OFFICIAL_CONV_INDEX = (0, 0, 2, 0, 2, 0, 0, 2, 0, 0, 1, 0, 0)
#: ``net<n>.head.<k>`` -> the module of the project's LargeFOV head
OFFICIAL_HEAD = {
    '2': 'fc6.conv',
    '3': 'fc6.bn',
    '6': 'fc7.conv',
    '7': 'fc7.bn',
    '10': 'conv_seg'
}
#: ``net<n>.head.<k>`` dropouts -> the project head's dropout modules
OFFICIAL_DROPOUT = {'5': 'fc6_dropout', '9': 'dropout'}
#: the BN buffers that are part of the computation (``path_costs`` and the
#: project's schedule buffers are constants, not state)
BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')
#: separate PCG64 streams of one seed: default_rng([seed, stream, ...])
STREAM_WEIGHTS, STREAM_DATA, STREAM_GATES, STREAM_DROPOUT = range(4)
#: standard deviation of the seeded gate logits (gates ~0.3 to 0.7)
ALPHA_STD = 0.5
#: the official weight-optimizer groups (``train_nas.py``) and the arch one
LR_GROUPS = ('base', 'fc8_weight', 'fc8_bias', 'fusion', 'arch')

Edge = Tuple[str, int, int]  # (official net of the target, i, j)


# ----------------------------------------------------------------------
# the name map
# ----------------------------------------------------------------------
@dataclass
class NameMap:
    """The project model under the official names.

    Attributes:
        tensors: official name -> project name, every parameter and BN
            buffer (the gate logits included: see ``alphas``).
        alphas: official ``net<n>_alphas`` -> the project's per-edge
            indices, ``{(i, j): index}`` into its alpha vector.
        edges: the official gate order (target net, target layer i, source
            layer j: ``net<n>_alphas[i, j]``), net1 then net2, row-major.
        dropouts: official dropout module -> project dropout module.
        num_layers: layers per column (the alphas are num_layers^2).
        shapes: official name -> official shape (the seeded values').
    """
    tensors: Dict[str, str]
    alphas: Dict[str, Dict[Tuple[int, int], int]]
    edges: List[Edge]
    dropouts: Dict[str, str]
    num_layers: int
    shapes: Dict[str, Tuple[int, ...]] = field(default_factory=dict)


def _official_group(name: str) -> str:
    """The official weight-optimizer group of an official parameter name
    (``'paths' in name`` x100, ``head.10`` weight x10 / bias x20)."""
    if name.endswith('_alphas'):
        return 'arch'
    if 'paths' in name:
        return 'fusion'
    if '.head.10.' in name:
        return 'fc8_weight' if name.endswith('weight') else 'fc8_bias'
    return 'base'


def _state_names(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Parameters and BN buffers by name (shared modules once)."""
    out = dict(model.named_parameters())
    for name, buf in model.named_buffers():
        if name.rsplit('.', 1)[-1] in BN_BUFFERS:
            out[name] = buf
    return out


def build_name_map(project: nn.Module) -> NameMap:
    """The official name of every parameter, BN buffer, gate logit and
    dropout of the project's search model (``MTLNAS`` over two VGG-16
    LargeFOV columns with :class:`FusionEdges`).

    Raises ``ValueError`` naming the project tensors no rule renames.
    """
    space = project.search_space
    net_of = {task: net for net, task in NETS.items()}
    if set(space.tasks) != set(net_of):
        raise ValueError(f'fidelity: expected the tasks {sorted(net_of)}, '
                         f'got {space.tasks}')
    names = _state_names(project)
    col = re.compile(r'network\.backbone\.columns\.(\w+)\.features\.(\d+)'
                     r'\.(conv|bn)\.(\w+)$')
    layers: Dict[str, List[int]] = {}
    for n in names:
        m = col.match(n)
        if m and m.group(3) == 'conv':
            layers.setdefault(m.group(1), []).append(int(m.group(2)))
    stage = {t: {f: s for s, f in enumerate(sorted(v))}
             for t, v in layers.items()}
    num_layers = len(OFFICIAL_CONV_INDEX)
    if any(len(v) != num_layers for v in stage.values()):
        raise ValueError(f'fidelity: the official columns have {num_layers} '
                         f'conv layers, the project\'s '
                         f'{ {t: len(v) for t, v in stage.items()} }')
    head_mod = {v: k for k, v in OFFICIAL_HEAD.items()}
    head = re.compile(r'network\.heads\.(\w+)\.(decoder\.)?'
                      r'(fc6\.conv|fc6\.bn|fc7\.conv|fc7\.bn|conv_seg)'
                      r'\.(\w+)$')
    fusion = re.compile(r'network\.backbone\.edges\.fusions\.(\w+)\.(\d+)'
                        r'\.(conv|bn)\.(\w+)$')
    alpha = re.compile(r'network\.backbone\.edges\.alphas\.(\w+)$')
    tensors, unmapped = {}, []
    for n in names:
        if m := col.match(n):
            t, f, kind, attr = m.groups()
            s = stage[t][int(f)]
            k = OFFICIAL_CONV_INDEX[s] + (kind == 'bn')
            official = f'{net_of[t]}.stages.{s}.feature.{k}.{attr}'
        elif m := head.match(n):
            t, _, mod, attr = m.groups()
            official = f'{net_of[t]}.head.{head_mod[mod]}.{attr}'
        elif m := fusion.match(n):
            t, s, kind, attr = m.groups()
            official = f'paths.{net_of[t]}_paths.{s}.{kind}.{attr}'
        elif m := alpha.match(n):
            official = f'{net_of[m.group(1)]}_alphas'
        else:
            unmapped.append(n)
            continue
        if official in tensors:
            raise ValueError(f'fidelity: {n} and {tensors[official]} both '
                             f'map to {official}')
        tensors[official] = n
    if unmapped:
        raise ValueError('fidelity: no official name for the project '
                         f'tensors {unmapped}')
    alphas: Dict[str, Dict[Tuple[int, int], int]] = {}
    for e in space.edges:
        if e.source_task == e.target_task:
            raise ValueError(f'fidelity: edge {e.key} is not cross-task')
        key = f'{net_of[e.target_task]}_alphas'
        alphas.setdefault(key, {})[(e.target_layer, e.source_layer)] = \
            space.task_index[e]
    edges = [(net, i, j) for net in NETS
             for i, j in sorted(alphas.get(f'{net}_alphas', {}))]
    dropouts = {}
    for n, mod in project.named_modules():
        m = re.match(r'network\.heads\.(\w+)\.(decoder\.)?(\w+)$', n)
        if isinstance(mod, nn.Dropout) and m:
            k = {v: k for k, v in OFFICIAL_DROPOUT.items()}.get(m.group(3))
            if k is None:
                raise ValueError(f'fidelity: no official dropout for {n}')
            dropouts[f'{net_of[m.group(1)]}.head.{k}'] = n
    shapes = {o: tuple(names[p].shape) for o, p in tensors.items()}
    for key in alphas:
        shapes[key] = (num_layers, num_layers)
    return NameMap(tensors, alphas, edges, dropouts, num_layers, shapes)


def check_bijection(name_map: NameMap, official_names: Sequence[str],
                    official_shapes: Optional[Mapping[str, tuple]] = None
                    ) -> None:
    """Raise ``ValueError`` unless the map covers exactly
    ``official_names`` (with ``official_shapes``: also their shapes),
    naming every name left over on either side."""
    ours, theirs = set(name_map.tensors), set(official_names)
    problems = []
    if theirs - ours:
        problems.append('official names with no project tensor: '
                        f'{sorted(theirs - ours)}')
    if ours - theirs:
        extra = [f'{name_map.tensors[n]} (as {n})'
                 for n in sorted(ours - theirs)]
        problems.append(f'project tensors with no official name: {extra}')
    for n, shape in (official_shapes or {}).items():
        if n in ours and tuple(shape) != name_map.shapes[n]:
            problems.append(f'{n}: official shape {tuple(shape)}, project '
                            f'{name_map.shapes[n]} ({name_map.tensors[n]})')
    if problems:
        raise ValueError('fidelity: the name map is not a bijection: ' +
                         '; '.join(problems))


def check_official_model(name_map: NameMap, official: nn.Module) -> None:
    """The map against the official model: names, shapes, the candidate
    edges (``net<n>_connectivity_matrix``) and the dropouts."""
    state = _state_names(official)
    check_bijection(name_map, list(state),
                    {n: tuple(t.shape) for n, t in state.items()})
    for net in NETS:
        matrix = getattr(official, f'{net}_connectivity_matrix')
        want = {(int(i), int(j)) for i, j in np.argwhere(matrix)}
        got = set(name_map.alphas.get(f'{net}_alphas', {}))
        if want != got:
            raise ValueError(f'fidelity: {net} candidate edges differ: '
                             f'official only {sorted(want - got)}, project '
                             f'only {sorted(got - want)}')
    drop = {n for n, m in official.named_modules()
            if isinstance(m, nn.Dropout)}
    if drop != set(name_map.dropouts):
        raise ValueError(f'fidelity: dropouts differ: official {sorted(drop)}'
                         f', mapped {sorted(name_map.dropouts)}')


# ----------------------------------------------------------------------
# seeded weights, data and random draws
# ----------------------------------------------------------------------
def seeded_values(name_map: NameMap, seed: int) -> Dict[str, np.ndarray]:
    """Every tensor's values (official names and shapes) from one PCG64
    generator, in the sorted order of the official names.

    Magnitudes of a trained network, so that 16 layers neither explode
    nor die: convs He-normal (std sqrt(2 / fan_in)); fusion convs their
    (1, 0) init (own feature identity) plus half that noise on every
    column; BN weights 1 + 0.1 N, biases and running means 0.1 N, running
    variances U(0.5, 1.5), batch counts U{0..999}; fc8 biases 0.1 N; gate
    logits ALPHA_STD * N on the candidate edges (0 elsewhere, as the
    official 13x13 logits are).
    """
    rng = np.random.default_rng([seed, STREAM_WEIGHTS])
    out = {}
    for name in sorted(name_map.shapes):
        shape = name_map.shapes[name]
        attr = name.rsplit('.', 1)[-1]
        if name in name_map.alphas:
            v = np.zeros(shape)
            for i, j in sorted(name_map.alphas[name]):
                v[i, j] = ALPHA_STD * rng.standard_normal()
        elif attr == 'num_batches_tracked':
            v = np.asarray(rng.integers(0, 1000), dtype=np.int64)
        elif attr == 'running_var':
            v = rng.uniform(0.5, 1.5, shape)
        elif attr == 'running_mean':
            v = 0.1 * rng.standard_normal(shape)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            v = np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)
            if 'paths' in name:
                v *= 0.5
                c = shape[0]
                v[:, :c, 0, 0] += np.eye(c)
        elif attr == 'weight':  # BN
            v = 1.0 + 0.1 * rng.standard_normal(shape)
        elif attr == 'bias':
            v = 0.1 * rng.standard_normal(shape)
        else:
            raise ValueError(f'fidelity: no seeded values for {name}')
        out[name] = v
    return out


@torch.no_grad()
def _load(tensor: torch.Tensor, value: np.ndarray) -> None:
    tensor.copy_(torch.from_numpy(np.asarray(value)).to(tensor))


def fill_from_seed(seed: int, name_map: NameMap,
                   official: Optional[nn.Module] = None,
                   project: Optional[nn.Module] = None) -> None:
    """Fill the parameters and BN buffers of the official and/or the
    project model (already float64) with :func:`seeded_values`: both get
    the same numbers, by name."""
    values = seeded_values(name_map, seed)
    if official is not None:
        state = _state_names(official)
        check_bijection(name_map, list(state))
        for name, t in state.items():
            _load(t, values[name])
    if project is not None:
        state = _state_names(project)
        for name, pname in name_map.tensors.items():
            if name in name_map.alphas:
                idx = name_map.alphas[name]
                flat = np.zeros(len(idx))
                for (i, j), k in idx.items():
                    flat[k] = values[name][i, j]
                _load(state[pname], flat)
            else:
                _load(state[pname], values[name])


def _unit_normals(rng: np.random.Generator, n: int, h: int,
                  w: int) -> np.ndarray:
    """Raw 0..255 PNG normal vectors (z towards the camera), every tenth
    pixel invalid (255, 255, 255) as in the released PNGs."""
    v = rng.standard_normal((n, 3, h, w))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v[:, 2] = np.abs(v[:, 2])
    raw = np.round((v + 1.0) / 2.0 * 255.0)
    invalid = rng.random((n, 1, h, w)) < 0.1
    return np.where(invalid, 255.0, raw)


def make_batches(seed: int, iters: int, n: int = BATCH, h: int = HEIGHT,
                 w: int = WIDTH) -> List[Dict[str, Dict[str, np.ndarray]]]:
    """Per iteration, the architecture and the weight batch: ``image``
    (N, 3, H, W) uint8 RGB, ``seg`` (N, H, W) int64 0..39 with every tenth
    pixel 255 (ignored), ``normal`` (N, 3, H, W) float64 raw PNG vectors."""
    rng = np.random.default_rng([seed, STREAM_DATA])
    out = []
    for _ in range(iters):
        it = {}
        for step in ('arch', 'weight'):
            image = rng.integers(0, 256, (n, 3, h, w), dtype=np.uint8)
            seg = rng.integers(0, 40, (n, h, w))
            seg[rng.random((n, h, w)) < 0.1] = 255
            it[step] = dict(image=image, seg=seg,
                            normal=_unit_normals(rng, n, h, w))
        out.append(it)
    return out


def gate_uniforms(seed: int, it: int, edges: Sequence[Edge]
                  ) -> Dict[Edge, float]:
    """The uniforms of iteration ``it``'s relaxed-Bernoulli gate samples
    (the weight step; the architecture step uses sigmoid gates), one per
    edge, drawn in the official gate order."""
    u = np.random.default_rng([seed, STREAM_GATES, it]).random(len(edges))
    return dict(zip(edges, u.tolist()))


@contextlib.contextmanager
def uniforms_from(chunks: List[np.ndarray]) -> Iterator[List[np.ndarray]]:
    """``torch.rand`` returns ``chunks`` in order (shapes checked), so that
    ``RelaxedBernoulli.rsample`` of torch.distributions, which both sides
    call, draws the seeded uniforms; any other call is an error.  Yields
    the queue (empty at the end when every chunk was drawn)."""
    queue = list(chunks)
    real = torch.rand

    def rand(*size, dtype=None, device=None, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(
            size[0], (tuple, list, torch.Size)) else tuple(size)
        if not queue or tuple(queue[0].shape) != shape:
            raise RuntimeError(
                f'fidelity: unexpected torch.rand{shape}; next seeded draw: '
                f'{tuple(queue[0].shape) if queue else "none"}')
        return torch.from_numpy(queue.pop(0)).to(
            dtype=dtype or torch.get_default_dtype(), device=device)

    torch.rand = rand
    try:
        yield queue
    finally:
        torch.rand = real


class SeededDropout:
    """Dropout masks from the seed, the same for a module of either side.

    The forward of every given ``nn.Dropout`` is replaced (on the instance)
    by ``x * keep / (1 - p)`` with ``keep`` drawn from
    ``default_rng([seed, STREAM_DROPOUT, it, call, module id])``: ``it`` the
    iteration (:meth:`start`), ``call`` the module's call count in it (0:
    architecture step, 1: weight step), the id the rank of the official
    module name.  :meth:`restore` puts the modules back.
    """

    def __init__(self, seed: int, modules: Mapping[str, nn.Dropout]) -> None:
        self.seed = seed
        self.modules = dict(modules)
        self.ids = {n: k for k, n in enumerate(sorted(self.modules))}
        self.it, self.calls = 0, {n: 0 for n in self.modules}
        for name, mod in self.modules.items():
            mod.forward = self._forward_of(name, mod)

    def _forward_of(self, name: str, mod: nn.Dropout) -> Callable:

        def forward(x: torch.Tensor) -> torch.Tensor:
            if not mod.training or mod.p == 0:
                return x
            call = self.calls[name]
            self.calls[name] += 1
            rng = np.random.default_rng(
                [self.seed, STREAM_DROPOUT, self.it, call, self.ids[name]])
            keep = (rng.random(tuple(x.shape)) >= mod.p) / (1.0 - mod.p)
            return x * torch.from_numpy(keep).to(x)
        return forward

    def start(self, it: int) -> None:
        """The masks of iteration ``it`` (call counts restart)."""
        self.it, self.calls = it, {n: 0 for n in self.modules}

    def restore(self) -> None:
        for mod in self.modules.values():
            mod.__dict__.pop('forward', None)


# ----------------------------------------------------------------------
# the traces
# ----------------------------------------------------------------------
def _norms(values: Mapping[str, torch.Tensor]) -> Dict[str, float]:
    return {n: float(t.detach().double().norm()) for n, t in
            sorted(values.items())}


def _record(trace: dict, it: int, norms: Callable[[], Dict[str, float]],
            **entry: Any) -> None:
    entry = dict(iter=it + 1, **entry)
    if it + 1 in NORM_ITERS:
        entry['norms'] = norms()
    trace['iterations'].append(entry)


def _new_trace(seed: int, iters: int, name_map: NameMap) -> dict:
    return dict(seed=seed, iters=iters, batch=[BATCH, HEIGHT, WIDTH],
                norm_iters=[i for i in NORM_ITERS if i <= iters],
                edges=[list(e) for e in name_map.edges], iterations=[])


def _official_inputs(batch: Mapping[str, np.ndarray]) -> tuple:
    """A batch as the official loader gives it (run in float64)."""
    mean = torch.tensor(OFFICIAL_MEAN, dtype=torch.float32).double()
    image = torch.from_numpy(batch['image']).double() - mean.view(1, 3, 1, 1)
    seg = torch.from_numpy(batch['seg']).long().unsqueeze(1)
    normal = torch.from_numpy(batch['normal']).double()
    return image, (seg, normal)


def official_trace(official_root: str, seed: int = 0, iters: int = 5,
                   project_map: Optional[NameMap] = None) -> dict:
    """``iters`` iterations of the official search, float64.

    The model and optimizers are the official ones for the default NYUv2
    search config (:mod:`.official`: ``configs/ablation/
    vgg_nyuv2_default.yaml``, random init), filled by
    :func:`fill_from_seed`; each iteration is ``tools/train_nas.py``'s:
    ``arch_train``, ``arch_optimizer.zero_grad``, loss on the search batch,
    backward, ``arch_optimizer.step``, ``arch_eval``,
    ``optimizer.zero_grad``, loss on the train batch, backward,
    ``optimizer.step``, ``model.step``, ``scheduler.step`` (the arch
    scheduler is not stepped under Adam).  ``project_map`` (default: built
    from the project's official config) gives the official names their
    order and is checked against the official model.
    """
    from .official import import_official, official_config, \
        official_optimizers
    off = import_official(official_root)
    c = official_config(off)
    with contextlib.redirect_stdout(sys.stderr):
        model = off.get_model(c, *off.get_tasks(c))
    model.double().train()
    name_map = project_map or build_name_map(build_project_model())
    check_official_model(name_map, model)
    fill_from_seed(seed, name_map, official=model)
    optimizer, scheduler, arch_optimizer = official_optimizers(
        model, c, search=True)
    group_of = {id(p): _official_group(n) for n, p in
                model.named_parameters()}
    dropout = SeededDropout(seed, {n: m for n, m in model.named_modules()
                                   if isinstance(m, nn.Dropout)})
    batches = make_batches(seed, iters)
    trace = _new_trace(seed, iters, name_map)
    trace['config'] = {
        'ARCH.LR': c.ARCH.LR, 'ARCH.WEIGHT_DECAY': c.ARCH.WEIGHT_DECAY,
        'ARCH.ENTROPY_REGULARIZATION_WEIGHT':
        c.ARCH.ENTROPY_REGULARIZATION_WEIGHT,
        'TRAIN.LR': c.TRAIN.LR, 'TRAIN.STEPS': c.TRAIN.STEPS,
        'TRAIN.NDDR_FACTOR': c.TRAIN.NDDR_FACTOR,
        'TRAIN.TASK2_FACTOR': c.TRAIN.TASK2_FACTOR}
    alphas = {k: getattr(model, k) for k in name_map.alphas}
    state = _state_names(model)
    try:
        for it in range(iters):
            dropout.start(it)
            lr = {g: [] for g in LR_GROUPS}
            for opt in (optimizer, arch_optimizer):
                for group in opt.param_groups:
                    for p in group['params']:
                        lr[group_of[id(p)]].append(group['lr'])
            image, labels = _official_inputs(batches[it]['arch'])
            model.arch_train()
            arch_optimizer.zero_grad()
            res = model.loss(image, labels)
            res.loss.backward()
            grad = [alphas[f'{n}_alphas'].grad[i, j].item()
                    for n, i, j in name_map.edges]
            arch_optimizer.step()
            model.arch_eval()
            arch_losses = dict(
                seg=res.loss1.item(),
                normal=(c.TRAIN.TASK2_FACTOR * res.loss2).item(),
                entropy=(res.entropy_weight * res.entropy_loss).item(),
                entropy_raw=res.entropy_loss.item(), total=res.loss.item())
            schedule = dict(entropy_weight=float(res.entropy_weight),
                            temperature=float(model.get_temperature()))
            u = gate_uniforms(seed, it, name_map.edges)
            chunks = [np.array([u[(n, s, j)] for j in np.nonzero(
                getattr(model, f'{n}_connectivity_matrix')[s])[0]])
                for s in range(model.num_stages) for n in NETS]
            image, labels = _official_inputs(batches[it]['weight'])
            optimizer.zero_grad()
            with uniforms_from(chunks) as left:
                res = model.loss(image, labels)
            if left:
                raise RuntimeError('fidelity: the official weight step drew '
                                   f'{len(chunks) - len(left)} of '
                                   f'{len(chunks)} gate samples')
            res.loss.backward()
            optimizer.step()
            model.step()
            scheduler.step()
            weight_losses = dict(
                seg=res.loss1.item(),
                normal=(c.TRAIN.TASK2_FACTOR * res.loss2).item(),
                total=res.loss.item())
            _record(trace, it, lambda: _norms(state),
                    losses=dict(arch=arch_losses, weight=weight_losses),
                    alpha_grad=grad,
                    alpha=[alphas[f'{n}_alphas'][i, j].item()
                           for n, i, j in name_map.edges],
                    schedule=schedule, lr=_lr_summary(lr))
    finally:
        dropout.restore()
    return trace


def _lr_summary(lr: Mapping[str, List[float]]) -> Dict[str, Any]:
    """Per group its lr, or the sorted distinct values if they differ."""
    out = {}
    for g, values in lr.items():
        distinct = sorted(set(values))
        out[g] = distinct[0] if len(distinct) == 1 else distinct
    return out


def load_project_cfg(path: str = OFFICIAL_CONFIG):
    """The project's config (relative to the repository, or absolute)."""
    from .cases import load_cfg
    return load_cfg(path)


def build_project_model(cfg=None) -> nn.Module:
    """``MODELS.build`` of the config's model (default: the official
    config), as the runner builds it (mmseg's registry scope)."""
    from mmengine.registry import DefaultScope

    from mmseg.registry import MODELS
    cfg = cfg if cfg is not None else load_project_cfg()
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmseg')):
        return MODELS.build(copy.deepcopy(cfg.model))


def _project_batch(batch: Mapping[str, np.ndarray]) -> dict:
    """A batch as the project's loader gives it: BGR uint8 images (the data
    preprocessor converts to RGB and normalises), ``gt_sem_seg`` and
    ``gt_normal_map`` (decoded normals, invalid = 0; float64 here so that
    the raw vectors come back exactly)."""
    from mmengine.structures import PixelData

    from mmseg.structures import SegDataSample
    from mtlnas_mm.structures.normal_space import raw_to_unit
    n, _, h, w = batch['image'].shape
    inputs, samples = [], []
    for k in range(n):
        inputs.append(torch.from_numpy(batch['image'][k][::-1].copy()))
        raw = torch.from_numpy(batch['normal'][k])
        invalid = (raw == 255).all(dim=0, keepdim=True)
        normal = torch.where(invalid, torch.zeros_like(raw), raw_to_unit(raw))
        sample = SegDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(
            data=torch.from_numpy(batch['seg'][k]).long().unsqueeze(0))
        sample.gt_normal_map = PixelData(data=normal)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


class _Runner:
    """What the search's hooks read of mmengine's runner: the model, the
    optimizers and schedulers, the iteration and a message hub."""

    class _Hub:
        def update_scalar(self, *args, **kwargs) -> None:
            pass

    def __init__(self, model, optim_wrapper, param_schedulers,
                 max_iters: int) -> None:
        self.model, self.optim_wrapper = model, optim_wrapper
        self.param_schedulers = param_schedulers
        self.max_iters, self.iter = max_iters, 0
        self.message_hub = self._Hub()


def project_trace(seed: int = 0, iters: int = 5, cfg=None) -> dict:
    """``iters`` iterations of the project's search, float64, mapped to the
    official names (same content as :func:`official_trace`).

    From the config (default: the official one): the model (``MODELS``),
    ``optim_wrapper`` (``build_optim_wrapper``: the
    ``BilevelOptimWrapperConstructor``), ``param_scheduler`` per optimizer
    (as ``Runner.build_param_scheduler`` builds them for an
    ``OptimWrapperDict``), the ``MinEntropyHook`` of ``custom_hooks`` and
    ``default_hooks.param_scheduler``; each iteration is the train loop's:
    hooks ``before_train_iter``, ``model.train()``,
    ``model.train_step(dict(weight=..., arch=...), optim_wrapper)``, hooks
    ``after_train_iter`` (``train_cfg.max_iters`` is the runner's).
    """
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import HOOKS, PARAM_SCHEDULERS, DefaultScope
    cfg = cfg if cfg is not None else load_project_cfg()
    scope = cfg.get('default_scope', 'mmseg')
    model = build_project_model(cfg).double()
    model.train()
    name_map = build_name_map(model)
    fill_from_seed(seed, name_map, project=model)
    with DefaultScope.overwrite_default_scope(scope):
        wrappers = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
        schedulers = {
            key: [PARAM_SCHEDULERS.build(
                copy.deepcopy(s), default_args=dict(optimizer=wrapper))
                  for s in cfg.param_scheduler.get(key, [])]
            for key, wrapper in wrappers.items()}
        hooks = [HOOKS.build(copy.deepcopy(h)) for h in cfg.custom_hooks
                 if h['type'] == 'MinEntropyHook']
        hooks.append(HOOKS.build(copy.deepcopy(
            cfg.default_hooks.param_scheduler)))
    runner = _Runner(model, wrappers, schedulers, cfg.train_cfg.max_iters)
    names = {p: n for n, p in name_map.tensors.items()}
    group_of = {id(p): _official_group(names[n])
                for n, p in model.named_parameters()}
    space = model.search_space
    task_net = {t: n for n, t in NETS.items()}
    alpha_names = {f'{task_net[t]}_alphas': p
                   for t, p in space.alphas.items()}
    grads: Dict[str, List[torch.Tensor]] = {k: [] for k in alpha_names}
    handles = [p.register_hook(lambda g, k=k: grads[k].append(g.detach()))
               for k, p in alpha_names.items()]
    dropout = SeededDropout(seed, {
        o: model.get_submodule(p) for o, p in name_map.dropouts.items()})
    batches = make_batches(seed, iters)
    trace = _new_trace(seed, iters, name_map)
    state = _state_names(model)

    def alpha_values(values: Mapping[str, torch.Tensor]) -> List[float]:
        return [values[f'{n}_alphas'][
            name_map.alphas[f'{n}_alphas'][(i, j)]].item()
            for n, i, j in name_map.edges]

    def norms() -> Dict[str, float]:
        return _norms({o: state[p] for o, p in name_map.tensors.items()})

    try:
        for it in range(iters):
            runner.iter = it
            dropout.start(it)
            for k in grads:
                grads[k].clear()
            data = dict(arch=_project_batch(batches[it]['arch']),
                        weight=_project_batch(batches[it]['weight']))
            for hook in hooks:
                hook.before_train_iter(runner, it, data)
            lr = {g: [] for g in LR_GROUPS}
            for wrapper in wrappers.values():
                for group in wrapper.optimizer.param_groups:
                    for p in group['params']:
                        lr[group_of[id(p)]].append(group['lr'])
            schedule = dict(entropy_weight=float(model.regularizer_weight),
                            temperature=float(space.temperature))
            u = gate_uniforms(seed, it, name_map.edges)
            chunks = []
            for t in space.alphas:
                net = task_net[t]
                idx = {k: ij for ij, k in
                       name_map.alphas[f'{net}_alphas'].items()}
                chunks.append(np.array([u[(net, *idx[k])]
                                        for k in range(len(idx))]))
            model.train()
            with uniforms_from(chunks) as left:
                log = model.train_step(data, wrappers)
            if left:
                raise RuntimeError('fidelity: the project drew '
                                   f'{len(chunks) - len(left)} of '
                                   f'{len(chunks)} gate samples')
            for hook in hooks:
                hook.after_train_iter(runner, it, data, log)
            losses = dict(
                arch=dict(seg=_log(log, 'arch.', 'seg'),
                          normal=_log(log, 'arch.', 'normal'),
                          entropy=_log(log, 'arch.', 'loss_entropy'),
                          entropy_raw=_log(log, 'arch.', 'entropy'),
                          total=float(log['arch.loss'])),
                weight=dict(seg=_log(log, '', 'seg'),
                            normal=_log(log, '', 'normal'),
                            total=float(log['loss'])))
            grad = {k: g[0] for k, g in grads.items()}
            _record(trace, it, norms, losses=losses,
                    alpha_grad=alpha_values(grad),
                    alpha=alpha_values(alpha_names),
                    schedule=schedule, lr=_lr_summary(lr))
    finally:
        dropout.restore()
        for h in handles:
            h.remove()
    return trace


def _log(log: Mapping[str, Any], prefix: str, key: str) -> float:
    """The sum of the logged values ``<prefix><key>`` or
    ``<prefix><key>.<loss>`` (a task's losses); 0 if none (a term switched
    off)."""
    total = 0.0
    for k, v in log.items():
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        if prefix == '' and rest.startswith('arch.'):
            continue
        if rest == key or (rest.startswith(key + '.') and
                           'loss' in rest[len(key) + 1:]):
            total += float(v)
    return total


# ----------------------------------------------------------------------
# comparison
# ----------------------------------------------------------------------
def _rel(x: float, y: float) -> float:
    """``|x - y| / max(|x|, |y|)`` (0 when both are 0)."""
    scale = max(abs(x), abs(y))
    return abs(x - y) / scale if scale > 0 else 0.0


def _rel_vec(x: Sequence[float], y: Sequence[float]) -> float:
    """The largest difference relative to the larger vector's largest
    element (an element near 0 is judged against its vector's scale)."""
    if len(x) != len(y):
        return float('inf')
    x, y = np.asarray(x, float), np.asarray(y, float)
    scale = max(np.abs(x).max(initial=0), np.abs(y).max(initial=0))
    return float(np.abs(x - y).max(initial=0) / scale) if scale > 0 else 0.


def _as_list(v: Any) -> List[float]:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    """The largest relative difference of every quantity of two traces,
    per iteration (those both have).

    Quantities: ``loss.<step>.<term>`` (each scalar), ``alpha_grad`` and
    ``alpha`` (relative to the vector's largest element),
    ``schedule.<name>``, ``lr`` (every group; a group whose parameters
    have several lrs is compared value by value) and ``norms`` (every
    tensor's norm, the worst named in ``worst``).  A quantity only one
    trace has counts as ``inf``.

    Returns:
        ``dict(iterations=[dict(iter=, errors={q: err}, worst={q: name})],
        max={q: err})``.
    """
    out, worst_all = [], {}
    for ea, eb in zip(a['iterations'], b['iterations']):
        errors: Dict[str, float] = {}
        worst: Dict[str, str] = {}
        for step in sorted(set(ea['losses']) | set(eb['losses'])):
            la, lb = ea['losses'].get(step, {}), eb['losses'].get(step, {})
            for term in sorted(set(la) | set(lb)):
                errors[f'loss.{step}.{term}'] = (
                    _rel(la[term], lb[term]) if term in la and term in lb
                    else float('inf'))
        for key in ('alpha_grad', 'alpha'):
            errors[key] = _rel_vec(ea[key], eb[key])
        for key in sorted(set(ea['schedule']) | set(eb['schedule'])):
            sa, sb = ea['schedule'].get(key), eb['schedule'].get(key)
            errors[f'schedule.{key}'] = (_rel(sa, sb) if None not in (sa, sb)
                                         else float('inf'))
        lr_err, lr_worst = 0.0, ''
        for g in sorted(set(ea['lr']) | set(eb['lr'])):
            va, vb = _as_list(ea['lr'].get(g, [])), _as_list(
                eb['lr'].get(g, []))
            err = (max(_rel(x, y) for x in va for y in vb)
                   if va and vb else float('inf'))
            if err >= lr_err:
                lr_err, lr_worst = err, g
        errors['lr'], worst['lr'] = lr_err, lr_worst
        if 'norms' in ea or 'norms' in eb:
            na, nb = ea.get('norms', {}), eb.get('norms', {})
            n_err, n_worst = 0.0, ''
            for name in sorted(set(na) | set(nb)):
                err = (_rel(na[name], nb[name]) if name in na and name in nb
                       else float('inf'))
                if err >= n_err:
                    n_err, n_worst = err, name
            errors['norms'], worst['norms'] = n_err, n_worst
        out.append(dict(iter=ea['iter'], errors=errors, worst=worst))
        for q, err in errors.items():
            worst_all[q] = max(worst_all.get(q, 0.0), err)
    return dict(iterations=out, max=worst_all)


def failures(result: Mapping[str, Any],
             tolerance: Callable[[str, int], float]) -> List[str]:
    """The quantities of :func:`compare`'s ``result`` above
    ``tolerance(quantity, iteration)``, one line each."""
    bad = []
    for entry in result['iterations']:
        for q, err in entry['errors'].items():
            tol = tolerance(q, entry['iter'])
            if not err <= tol:
                where = entry['worst'].get(q)
                bad.append(f'iteration {entry["iter"]}: {q} differs by '
                           f'{err:.3g} relative (tolerance {tol:.0e})'
                           + (f', worst {where}' if where else ''))
    return bad


def format_report(result: Mapping[str, Any]) -> str:
    """A markdown table: quantity x iteration, the largest relative
    difference."""
    its = [e['iter'] for e in result['iterations']]
    quantities = list(result['max'])
    lines = ['| quantity | ' + ' | '.join(f'iter {i}' for i in its) + ' |',
             '|---|' + '---:|' * len(its)]
    for q in quantities:
        cells = []
        for e in result['iterations']:
            err = e['errors'].get(q)
            cells.append('' if err is None else f'{err:.1e}')
        lines.append(f'| {q} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
