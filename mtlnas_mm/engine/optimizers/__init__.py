from .amp import (CPUAmpOptimWrapper, accelerator_available,
                  resolve_amp_wrapper_cfg)
from .constructors import (BilevelOptimWrapperConstructor,
                           BilevelOptimWrapperDict,
                           StrictOptimWrapperConstructor, check_custom_keys)

__all__ = [
    'BilevelOptimWrapperConstructor', 'BilevelOptimWrapperDict',
    'StrictOptimWrapperConstructor', 'CPUAmpOptimWrapper',
    'accelerator_available', 'resolve_amp_wrapper_cfg', 'check_custom_keys'
]
