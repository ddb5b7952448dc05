"""``cfg.compile``: mmengine compiles the model's ``train_step``; for a
search only the network's forward of both steps is traced (the
bookkeeping of ``BaseNASAlgorithm._step`` runs eagerly) and the results
equal the eager ones.

By default the toy search runs under dynamo's counting backend (what is
traced, and when) and under inductor (C++ code generation), seconds each.
The tiny MTL-NAS search takes minutes (on the development machine's 2
shared cores, depending on their load, 36-100 s to trace and 1-13 min to
compile): those tests run only with ``MTLNAS_MM_COMPILE_TESTS=1``."""
import os
import shutil

import pytest
import torch
from torch._dynamo.testing import CompileCounter

import mtlnas_mm  # noqa: F401
from builders import (ToySearchModel, fusion_columns, image_batch,
                      search_model_pair, toy_batch, toy_constructor)

needs_compiler = pytest.mark.skipif(
    shutil.which('g++') is None and shutil.which('clang++') is None,
    reason="inductor's CPU backend needs a C++ compiler")
slow_compile = pytest.mark.skipif(
    os.environ.get('MTLNAS_MM_COMPILE_TESTS') != '1',
    reason='inductor on the tiny MTL-NAS search takes minutes; set '
    'MTLNAS_MM_COMPILE_TESTS=1')


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _mtlnas(dtype=torch.float32):
    """The tiny search (no dropout) and its recipe optimizers."""
    from mmengine.config import Config

    from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
    from runner_utils import ROOT, TINY_SEARCH
    model = search_model_pair()[0].to(dtype)
    if dtype != torch.float32:  # the preprocessor returns float32 inputs
        preprocess = model.data_preprocessor.forward

        def cast(data, training=False):
            out = preprocess(data, training)
            out['inputs'] = out['inputs'].to(dtype)
            return out

        model.data_preprocessor.forward = cast
    recipe = Config.fromfile(f'{ROOT}/{TINY_SEARCH}').optim_wrapper.to_dict()
    recipe.pop('constructor')
    return model, BilevelOptimWrapperConstructor(recipe)(model)


def _run(build, make_batch, iters, compile_kw=None):
    """``iters`` bilevel iterations, ``train_step`` compiled as mmengine's
    runner does (``setattr(model, 'train_step', torch.compile(...))``)."""
    model, ow = build()
    if compile_kw is not None:
        model.train_step = torch.compile(model.train_step, **compile_kw)
    torch.manual_seed(5)  # the relaxed-gate samples
    logs = [model.train_step(dict(weight=make_batch(10 + i),
                                  arch=make_batch(20 + i)), ow)
            for i in range(iters)]
    return model, logs


def _assert_same_run(eager, compiled, rtol, atol):
    (m_e, logs_e), (m_c, logs_c) = eager, compiled
    for le, lc in zip(logs_e, logs_c):
        for key in ('loss', 'arch.loss'):
            torch.testing.assert_close(lc[key], le[key], rtol=rtol, atol=atol)
    for (name, p), q in zip(m_e.named_parameters(), m_c.parameters()):
        torch.testing.assert_close(q.detach(), p.detach(), rtol=rtol,
                                   atol=atol, msg=name)


class RecordingCounter(CompileCounter):
    """dynamo's counting backend that also keeps the names of the captured
    graphs' operations."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __call__(self, gm, example_inputs):
        self.ops.update(str(n.target) for n in gm.graph.nodes
                        if n.op in ('call_function', 'call_method'))
        return super().__call__(gm, example_inputs)


def _counted_run(build, make_batch):
    """Two iterations under dynamo's counting backend (the captured graphs
    run as they are); the frame counts before each iteration."""
    counter = RecordingCounter()
    frames = []

    def batch(seed):
        frames.append(counter.frame_count)  # graphs captured so far
        return make_batch(seed)

    run = _run(build, batch, 2, dict(backend=counter))
    # batches are made before each iteration: [0, 0, after 1, after 1]
    assert frames[:2] == [0, 0]
    assert frames[2] == frames[3] == counter.frame_count, \
        f'recompiled in the second iteration: {frames}'
    return run, counter


def _toy():
    torch.manual_seed(0)
    model = ToySearchModel()
    return model, toy_constructor()(model)


def test_toy_search_forward_is_traced_once_per_step():
    """Both steps' forwards are captured, once (no recompilation in the
    second iteration); the optimizer updates are not in the graphs (Adam's
    ``lerp_`` / ``addcdiv_``); the run is the eager one."""
    eager = _run(_toy, toy_batch, 2)
    compiled, counter = _counted_run(_toy, toy_batch)
    assert counter.frame_count >= 2
    assert any('linear' in op for op in counter.ops), counter.ops
    assert not any('lerp' in op or 'addcdiv' in op for op in counter.ops)
    _assert_same_run(eager, compiled, rtol=1e-6, atol=1e-7)


@slow_compile
@pytest.mark.timeout(900)
def test_tiny_search_forward_of_both_steps_is_traced_once():
    """The same on the tiny MTL-NAS search (tracing alone takes 36-100 s
    here): its convolutions are in the graphs, nothing recompiles after
    the first iteration, the run is the eager run."""
    eager = _run(_mtlnas, image_batch, 2)
    compiled, counter = _counted_run(_mtlnas, image_batch)
    assert counter.frame_count >= 2 and counter.op_count > 100
    _assert_same_run(eager, compiled, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@needs_compiler
@pytest.mark.timeout(900)
def test_inductor_compiled_toy_search_equals_eager():
    """inductor (C++ code generation) on the toy search: 3 iterations equal
    the eager ones to float32 rounding."""
    eager = _run(_toy, toy_batch, 3)
    compiled = _run(_toy, toy_batch, 3, {})
    _assert_same_run(eager, compiled, rtol=1e-5, atol=1e-6)


@needs_compiler
@slow_compile
@pytest.mark.timeout(2400)
def test_inductor_compiled_tiny_search_equals_eager_in_float64():
    """inductor on the tiny MTL-NAS search, both steps, relaxed gates drawn
    by eager's generator (``fallback_random``): 3 iterations equal the eager
    ones in float64.  The fused kernels round differently and the untrained
    network with the fusion ops' lr of 1.0 amplifies it: measured, losses
    equal to 1e-12 relative, parameters (of size ~1) to 1.4e-9; in float32
    the same amplification moves parameters by several per cent."""

    def build():
        return _mtlnas(torch.float64)

    eager = _run(build, image_batch, 3)
    compiled = _run(build, image_batch, 3,
                    dict(options={'fallback_random': True}))
    _assert_same_run(eager, compiled, rtol=1e-7, atol=1e-7)


def test_scheduled_values_do_not_recompile():
    """The temperature and the regulariser weight change every iteration
    under ``MinEntropyHook``; the compiled forward reads them as tensors
    (no recompilation per value: dynamo stops compiling after 8) and uses
    the new values."""
    space = fusion_columns(temperature=1.0).edges
    space.set_step('weight')  # relaxed gates
    counter = RecordingCounter()
    gates = torch.compile(lambda: space.soft_gates('relaxed'),
                          backend=counter)
    for tau in (1.0, 0.5625, 0.25, 1e-3):
        space.set_temperature(tau)
        torch.manual_seed(0)
        got = torch.stack(gates()['seg'])
        torch.manual_seed(0)
        want = torch.stack(space.soft_gates('relaxed')['seg'])
        torch.testing.assert_close(got, want)
    assert counter.frame_count == 1

    model = ToySearchModel()
    losses = torch.compile(model.arch_losses, backend=counter)
    for weight in (0.5, 2.0, 10.0):
        model.set_regularizer_weight(weight)
        out = losses()
        torch.testing.assert_close(out['loss_regularizer'],
                                   weight * out['regularizer'])
    assert counter.frame_count == 2
