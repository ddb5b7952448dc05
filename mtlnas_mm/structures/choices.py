"""One check for a configuration value that must be one of named options.

Every option a config picks by name (gate and route modes, pool padding,
normal space, head task, loss mode, ...) is validated here, so the error a
user gets always has the same form: who rejected which argument, the
options, and the value given.
"""
from typing import Collection, Hashable, Type, TypeVar

T = TypeVar('T', bound=Hashable)


def check_choice(value: T,
                 choices: Collection,
                 what: str,
                 error: Type[Exception] = ValueError) -> T:
    """Return ``value`` if it is in ``choices``, else raise ``error``.

    Args:
        value: the configured value.
        choices: the allowed values (shown sorted in the message when they
            are an unordered collection such as a dict or set).
        what: who checks which argument, e.g. ``'VGGLargeFOV: pool_padding'``.
        error: the exception class (``KeyError`` where a lookup table is
            keyed by the value).
    """
    if value not in choices:
        shown = tuple(choices)
        if not isinstance(choices, (tuple, list)):
            try:
                shown = tuple(sorted(shown))
            except TypeError:  # keys of mixed types: keep their order
                pass
        raise error(f'{what} must be one of {shown}, got {value!r}')
    return value
