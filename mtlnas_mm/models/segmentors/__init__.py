from .multi_task_network import MultiTaskNetwork

__all__ = ['MultiTaskNetwork']
