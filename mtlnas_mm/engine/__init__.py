"""Training machinery of a search: optimizer constructors, the bilevel
loop and samplers, the DDP wrappers and the hooks."""
from .hooks import *  # noqa: F401,F403
from .model_wrappers import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
