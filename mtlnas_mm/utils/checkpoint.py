"""Let ``weights_only`` loading read mmengine's runner checkpoints.

torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``: the
unpickler then builds only tensors, containers and allowlisted classes, so a
checkpoint cannot run code when it is loaded.  mmengine 0.10.7 calls
``torch.load`` without the argument, and its runner checkpoints hold more
than tensors: the message hub (``HistoryBuffer`` objects with numpy arrays)
and, in searches, the generator states the bilevel loop records (numpy's
state is a ``uint32`` array).  Without help every ``--resume`` and every
``load_from`` of such a file fails with ``Unsupported global``.

Instead of turning the safety off (``weights_only=False``, which lets any
checkpoint file run code), ``import mtlnas_mm`` (through
``mtlnas_mm/utils/__init__.py``) calls
:func:`register_checkpoint_safe_globals`, which adds to torch's allowlist
(``torch.serialization.add_safe_globals``) exactly the globals found in the
runner checkpoints of this project's configs (baselines and searches, saved
before and after a resume, with validation metrics; see
``tests/test_utils/test_checkpoint_safety.py``):

* ``mmengine.logging.HistoryBuffer`` (message-hub scalars);
* numpy arrays and scalars: ``numpy.ndarray``, ``numpy.dtype``, the dtype
  classes ``numpy.dtypes.Float64DType``, ``Int64DType`` (history buffers) and
  ``UInt32DType`` (numpy's RNG state), and numpy's reconstruction functions
  ``_reconstruct`` and ``scalar`` under both module names
  (``numpy._core.multiarray``, numpy >= 2, and ``numpy.core.multiarray``,
  files written with numpy 1).  These only build arrays of the allowlisted
  dtypes from bytes;
* a restricted stand-in for ``builtins.getattr``.  ``HistoryBuffer`` pickles
  its statistics methods (``HistoryBuffer.min`` etc.), and protocol 2 (what
  ``torch.save`` writes) spells a method as ``getattr(HistoryBuffer,
  'min')``.  The real ``getattr`` reaches anything from an allowed object
  and is never registered; :func:`history_buffer_method` answers only
  ``HistoryBuffer``'s four statistics methods and refuses every other call.

The registration is additive: it allows these data classes and nothing
else, and every other global still makes the load fail.

:func:`register_checkpoint_loader` (also called by ``import mtlnas_mm``)
registers, through mmengine's own extension point
(``CheckpointLoader.register_scheme``), a local-file loader that calls
mmengine's ``load_from_local`` unchanged and only rewrites its errors so
that they name the file and the reason: a refused pickle raises
:class:`CheckpointRefusedError` (still a ``pickle.UnpicklingError``; the
refused code never ran), an unreadable file (truncated, not a torch file)
:class:`CheckpointLoadError`.  Runner ``load_from`` / ``resume``,
``load_checkpoint``, ``Pretrained`` ``init_cfg`` and ``init_from`` all load
through it.  Python's and
torch's RNG states are tuples of ints and byte tensors, which torch allows
by default.  A checkpoint holding other objects fails with
``Unsupported global: ...``; add the named class with
``torch.serialization.add_safe_globals`` only if it cannot execute code.
"""
import os.path as osp
import pickle
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

#: the statistics methods ``HistoryBuffer`` writes into its pickled state
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` in ``weights_only`` loads.

    Args:
        owner: the object the pickle reads an attribute of; must be
            ``HistoryBuffer``.
        name: the attribute; must be one of :data:`HISTORY_BUFFER_METHODS`.

    Returns:
        The method ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    if owner is not HistoryBuffer or name not in HISTORY_BUFFER_METHODS:
        raise pickle.UnpicklingError(
            f'weights_only load: getattr({owner!r}, {name!r}) is not allowed '
            '(only the statistics methods of mmengine\'s HistoryBuffer are)')
    return getattr(HistoryBuffer, name)


def checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The globals :func:`register_checkpoint_safe_globals` allowlists.

    Returns:
        Entries for ``torch.serialization.add_safe_globals``: objects, or
        ``(object, name in the pickle)`` where the pickle names the object
        differently from its ``__module__.__qualname__``.
    """
    reconstruct, scalar = _multiarray._reconstruct, _multiarray.scalar
    return [
        HistoryBuffer,
        (history_buffer_method, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        np.dtypes.Float64DType,
        np.dtypes.Int64DType,
        np.dtypes.UInt32DType,
        (reconstruct, 'numpy._core.multiarray._reconstruct'),
        (reconstruct, 'numpy.core.multiarray._reconstruct'),
        (scalar, 'numpy._core.multiarray.scalar'),
        (scalar, 'numpy.core.multiarray.scalar'),
    ]


def register_checkpoint_safe_globals() -> None:
    """Allowlist :func:`checkpoint_safe_globals` for ``weights_only`` loads.

    Idempotent (torch keeps the entries in a set).  Called by
    ``import mtlnas_mm``.
    """
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


class CheckpointLoadError(RuntimeError):
    """A checkpoint file could not be read; the message names the file."""


class CheckpointRefusedError(CheckpointLoadError, pickle.UnpicklingError):
    """``weights_only`` loading refused a checkpoint's pickle (a global
    that is not an allowed data class); nothing in it was executed."""


def _unpickler_reason(err: Exception) -> str:
    """The sentence of torch's weights_only error that names the refused
    global (torch's message around it suggests turning the safety off)."""
    text = str(err)
    for line in text.splitlines():
        if 'Unsupported global' in line or 'not allowed' in line:
            return line.strip().split('. Please use')[0].rstrip('.') + '.'
    return text.strip().splitlines()[-1] if text.strip() else repr(err)


def load_local_checkpoint(filename: str,
                          map_location: Optional[Any] = None) -> Any:
    """mmengine's ``load_from_local`` with errors that name the file.

    Raises:
        FileNotFoundError: no such file (mmengine's own message).
        CheckpointRefusedError: ``weights_only`` refused the pickle.
        CheckpointLoadError: any other failure to read the file.
    """
    try:
        return load_from_local(filename, map_location)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as err:
        raise CheckpointRefusedError(
            f'{osp.expanduser(filename)}: refused by torch\'s weights_only '
            'loading, nothing in it was run. The file holds an object that '
            'is not an allowed data class (only tensors, containers and '
            'the classes of mmengine\'s runner checkpoints are); load only '
            f'checkpoints whose origin you trust. {_unpickler_reason(err)}'
        ) from err
    except Exception as err:
        raise CheckpointLoadError(
            f'{osp.expanduser(filename)}: not a readable torch checkpoint '
            f'(truncated, corrupt or another format): '
            f'{type(err).__name__}: {err}') from err


def register_checkpoint_loader() -> None:
    """Make :func:`load_local_checkpoint` mmengine's loader of local paths
    (prefix ``''``; other schemes, e.g. ``http://``, keep mmengine's).
    Idempotent.  Called by ``import mtlnas_mm``."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)
