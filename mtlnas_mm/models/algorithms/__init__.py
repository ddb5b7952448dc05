"""NAS algorithms: a network plus the search of its architecture."""
from .base import BaseNASAlgorithm, optimizer_params
from .mtlnas import MTLNAS
from .mtnas import MTNAS
from .share_routing import ShareRouting

__all__ = ['BaseNASAlgorithm', 'MTLNAS', 'MTNAS', 'ShareRouting',
           'optimizer_params']
