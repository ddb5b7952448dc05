"""mtlnas_mm: MTL-NAS (multi-task neural architecture search) for OpenMMLab.

Importing the package registers every component in mmseg's registries, so
configs only need::

    custom_imports = dict(imports=['mtlnas_mm'], allow_failed_imports=False)
    default_scope = 'mmseg'

Nothing of mmengine is patched.  ``mtlnas_mm.utils`` allowlists the data
classes of mmengine's runner checkpoints for torch's ``weights_only``
loading (:mod:`mtlnas_mm.utils.checkpoint`); DDP on CPU-only machines is set
up explicitly by the tools (:func:`mtlnas_mm.utils.init_cpu_distributed`).
"""
from . import datasets, engine, evaluation, models  # noqa: F401
from . import structures, utils, visualization  # noqa: F401
from .version import __version__

__all__ = ['__version__']
