from .multi_task_supernet import MultiTaskSupernet

__all__ = ['MultiTaskSupernet']
