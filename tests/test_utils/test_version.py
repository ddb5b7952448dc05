"""The supported OpenMMLab versions: declared once, checked at import."""
import pytest

import mtlnas_mm
from mtlnas_mm.version import SUPPORTED


def test_installed_versions_are_supported():
    mtlnas_mm.check_openmmlab_versions()
    assert set(SUPPORTED) == {'mmcv', 'mmengine', 'mmsegmentation',
                              'mmpretrain'}


def test_unsupported_version_is_named(monkeypatch):
    real = mtlnas_mm.installed_version
    monkeypatch.setattr(
        mtlnas_mm, 'installed_version',
        lambda name: '1.3.1' if name == 'mmsegmentation' else real(name))
    with pytest.raises(ImportError, match=r'mmsegmentation>=1.2.0,<1.3.0, '
                       r'found mmsegmentation==1.3.1'):
        mtlnas_mm.check_openmmlab_versions()
