"""mtlnas_mm: MTL-NAS (multi-task neural architecture search) for OpenMMLab.

Importing the package registers every component in mmseg's registries, so
configs only need::

    custom_imports = dict(imports=['mtlnas_mm'], allow_failed_imports=False)
    default_scope = 'mmseg'
"""
from .utils import patch_cpu_distributed_init
from .version import __version__

patch_cpu_distributed_init()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from . import structures, visualization  # noqa: E402,F401

__all__ = ['__version__']
