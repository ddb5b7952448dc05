"""Data structures shared by models, engine and tools: task fields, the
fusion-edge search space's edges, the DARTS cell genotypes, the share
routes and the architecture export format."""
from .architecture import (KEEP_LOGIT, Architecture, ConnectivityRule, Edge,
                           build_candidate_edges)
from .cell_genotype import (PRIMITIVES, CellArchitecture, CellGenotype,
                            SpaceGenotype, derive_cell, edge_offset,
                            num_cell_edges, random_cell,
                            random_cell_architecture)
from .choices import check_choice
from .export import (ARCH_FORMAT, ARCH_FORMAT_VERSION, ARCHITECTURE_KINDS,
                     BaseArchitecture, load_architecture,
                     register_architecture)
from .steps import ARCH_STEP, STEPS, WEIGHT_STEP
from .share_routes import (QUERY_CANDIDATES, RouteArchitecture, block_keys,
                           required_subnets)
from .task_fields import (IGNORE_INDEX, TASK_KINDS, TaskKind,
                          check_task_name, prediction_fields, task_kind)

__all__ = [
    'ARCH_STEP', 'STEPS', 'WEIGHT_STEP',
    'ARCH_FORMAT', 'ARCH_FORMAT_VERSION', 'ARCHITECTURE_KINDS', 'KEEP_LOGIT',
    'Architecture', 'BaseArchitecture', 'CellArchitecture', 'CellGenotype',
    'PRIMITIVES', 'SpaceGenotype', 'derive_cell', 'edge_offset',
    'num_cell_edges', 'random_cell', 'random_cell_architecture',
    'ConnectivityRule', 'Edge', 'IGNORE_INDEX',
    'QUERY_CANDIDATES', 'RouteArchitecture', 'TASK_KINDS', 'TaskKind',
    'block_keys', 'build_candidate_edges', 'check_choice', 'check_task_name',
    'load_architecture', 'prediction_fields', 'register_architecture',
    'required_subnets', 'task_kind'
]
