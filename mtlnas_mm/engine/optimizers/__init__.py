from .constructors import (BilevelOptimWrapperConstructor,
                           StrictOptimWrapperConstructor, check_custom_keys)

__all__ = [
    'BilevelOptimWrapperConstructor', 'StrictOptimWrapperConstructor',
    'check_custom_keys'
]
