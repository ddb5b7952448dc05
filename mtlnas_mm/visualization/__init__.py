from .arch_plot import draw_architecture, draw_gate_curves, read_gate_history
from .multi_task_visualizer import (MultiTaskVisualizer, draw_predictions,
                                    image_caption, normals_to_rgb,
                                    sample_tasks)

__all__ = [
    'draw_architecture', 'draw_gate_curves', 'read_gate_history',
    'MultiTaskVisualizer', 'draw_predictions', 'image_caption',
    'normals_to_rgb', 'sample_tasks'
]
