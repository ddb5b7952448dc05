from .architecture import (ARCH_FORMAT, ARCH_FORMAT_VERSION, Architecture,
                           ConnectivityRule, Edge, build_candidate_edges,
                           check_task_name)

__all__ = [
    'ARCH_FORMAT', 'ARCH_FORMAT_VERSION', 'Architecture', 'ConnectivityRule',
    'Edge', 'build_candidate_edges', 'check_task_name'
]
