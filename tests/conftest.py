"""Shared fixtures. Data fixtures are prefixed ``data_``."""
import pytest


@pytest.fixture(scope='session')
def data_synth_root(tmp_path_factory):
    """A tiny synthetic NYUv2 in both layouts (3 train, 2 test, 48x64)."""
    from mtlnas_mm.datasets.synthetic import generate_dataset
    root = tmp_path_factory.mktemp('synth_nyuv2')
    generate_dataset(str(root), num_train=3, num_test=2, height=48, width=64,
                     seed=7, layout='both', workers=1)
    return str(root)
