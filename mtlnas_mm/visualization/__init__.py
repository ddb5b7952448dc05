from .arch_plot import (ARCH_DRAWERS, draw_architecture, draw_gate_curves,
                        read_gate_history, register_arch_drawer)
from .cell_plot import draw_cell_genotype
from .multi_task_visualizer import (MultiTaskVisualizer, draw_predictions,
                                    image_caption, normals_to_rgb,
                                    sample_tasks)

__all__ = [
    'ARCH_DRAWERS', 'draw_architecture', 'draw_cell_genotype',
    'draw_gate_curves',
    'read_gate_history', 'register_arch_drawer',
    'MultiTaskVisualizer', 'draw_predictions', 'image_caption',
    'normals_to_rgb', 'sample_tasks'
]
