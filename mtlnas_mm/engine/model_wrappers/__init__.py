from .nas_ddp import (DeviceAwareDistributedDataParallel,
                      NASDistributedDataParallel)

__all__ = ['DeviceAwareDistributedDataParallel', 'NASDistributedDataParallel']
