"""Training machinery of the search: bilevel optimizers, loop, hooks."""
from .hooks import *  # noqa: F401,F403
from .model_wrappers import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
from .train_step import bilevel_train_step, check_finite

__all__ = ['bilevel_train_step', 'check_finite']
