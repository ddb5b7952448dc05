from .multi_task_network import MultiTaskNetwork
from .multi_task_regressor import MultiTaskRegressor

__all__ = ['MultiTaskNetwork', 'MultiTaskRegressor']
