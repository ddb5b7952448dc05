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
``tests/test_checkpoint_safety.py``):

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
else, and every other global still makes the load fail.  Python's and
torch's RNG states are tuples of ints and byte tensors, which torch allows
by default.  A checkpoint holding other objects fails with
``Unsupported global: ...``; add the named class with
``torch.serialization.add_safe_globals`` only if it cannot execute code.
"""
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

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
