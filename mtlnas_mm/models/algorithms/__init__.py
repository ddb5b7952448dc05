"""NAS algorithms: a network plus the search of its architecture."""
from .base import BaseNASAlgorithm, optimizer_params
from .mtlnas import MTLNAS

__all__ = ['BaseNASAlgorithm', 'MTLNAS', 'optimizer_params']
