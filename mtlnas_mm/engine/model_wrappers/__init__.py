from .bilevel_ddp import BilevelDistributedDataParallel

__all__ = ['BilevelDistributedDataParallel']
