from .constructors import (BilevelOptimWrapperConstructor,
                           BilevelOptimWrapperDict,
                           StrictOptimWrapperConstructor, check_custom_keys)

__all__ = [
    'BilevelOptimWrapperConstructor', 'BilevelOptimWrapperDict',
    'StrictOptimWrapperConstructor',
    'check_custom_keys'
]
