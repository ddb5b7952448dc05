from .bilevel_constructor import ARCH, WEIGHTS, BilevelOptimWrapperConstructor

__all__ = ['BilevelOptimWrapperConstructor', 'ARCH', 'WEIGHTS']
