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
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version

from packaging.version import parse

from .version import SUPPORTED, __version__


def check_openmmlab_versions() -> None:
    """Refuse to import next to an OpenMMLab package outside
    :data:`~mtlnas_mm.version.SUPPORTED`, with a message naming it (as
    mmseg's own ``__init__`` does for mmcv / mmengine)."""
    for package, (low, high) in SUPPORTED.items():
        try:
            found = installed_version(package)
        except PackageNotFoundError:
            raise ImportError(
                f'mtlnas_mm needs {package}>={low},<{high}; it is not '
                'installed (see README.md, "Install")') from None
        if not parse(low) <= parse(found) < parse(high):
            raise ImportError(
                f'mtlnas_mm supports {package}>={low},<{high}, found '
                f'{package}=={found}; install a supported version (tested '
                'versions: mtlnas_mm/version.py)')


check_openmmlab_versions()

from . import datasets, engine, evaluation, models  # noqa: F401,E402
from . import structures, utils, visualization  # noqa: F401,E402

__all__ = ['__version__', 'check_openmmlab_versions']
