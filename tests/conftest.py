"""Shared fixtures. Data fixtures are prefixed ``data_``.

Process-wide state is never changed at import.  Every test runs inside
:func:`_restore_process_state`, which puts torch's thread count, default
dtype, deterministic-algorithm flags, grad mode, mmengine's default
registry scope and the torch / numpy / Python random generators back as
they were, so a test's ``manual_seed``
or thread setting cannot reach the tests after it, whatever their order.

``MTLNAS_TEST_THREADS=N`` runs the whole suite at ``N`` torch threads
(default: torch's own default), e.g. to check it at 1 and at 2 threads.
"""
import copy
import os
import random

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope


@pytest.fixture(scope='session', autouse=True)
def _suite_threads():
    """The thread count of the whole run (``MTLNAS_TEST_THREADS``)."""
    threads = os.environ.get('MTLNAS_TEST_THREADS')
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    yield
    torch.set_num_threads(before)


#: every test starts from these generator seeds, whatever ran before it
TEST_SEED = 0


@pytest.fixture(autouse=True)
def _restore_process_state():
    """Seed torch / numpy / random for each test (so its outcome does not
    depend on the tests before it) and restore the process-wide state
    afterwards."""
    threads = torch.get_num_threads()
    dtype = torch.get_default_dtype()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    grad = torch.is_grad_enabled()
    torch_rng = torch.get_rng_state()
    numpy_rng = np.random.get_state()
    python_rng = random.getstate()
    # the registry scopes a test (or a Runner it builds) creates: dropped
    # afterwards, as mmengine's DefaultScope.overwrite_default_scope does
    scopes = copy.copy(DefaultScope._instance_dict)
    torch.manual_seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    random.seed(TEST_SEED)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.set_grad_enabled(grad)
    torch.set_rng_state(torch_rng)
    np.random.set_state(numpy_rng)
    random.setstate(python_rng)
    DefaultScope._instance_dict = scopes


@pytest.fixture
def mmseg_scope():
    """mmseg as mmengine's default registry scope for one test (restored
    afterwards)."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


@pytest.fixture(scope='session')
def data_synth_root(tmp_path_factory):
    """A tiny synthetic NYUv2 in both layouts (3 train, 2 test, 48x64)."""
    from mtlnas_mm.datasets.synthetic import generate_dataset
    root = tmp_path_factory.mktemp('synth_nyuv2')
    generate_dataset(str(root), num_train=3, num_test=2, height=48, width=64,
                     seed=7, layout='both', workers=1)
    return str(root)


@pytest.fixture(scope='session')
def data_root(tmp_path_factory):
    """Generated scenes for the training tests (16 train, 4 test, 48x64, read
    only): the data of every test that trains or searches on a data set."""
    from runner_utils import generate_data
    return generate_data(str(tmp_path_factory.mktemp('data_root')))


@pytest.fixture(scope='session')
def data_root_small(tmp_path_factory):
    """Fewer generated scenes (4 train, 2 test, read only) for the tests
    that need a few batches only (errors, start-of-search checks)."""
    from runner_utils import generate_data
    return generate_data(str(tmp_path_factory.mktemp('data_root_small')),
                         num_train=4, num_test=2)
