from .arch_plot import draw_architecture, draw_gate_curves, read_gate_history
from .predictions import (colorize_labels, draw_predictions, image_caption,
                          normals_to_rgb)

__all__ = [
    'draw_architecture', 'draw_gate_curves', 'read_gate_history',
    'draw_predictions', 'colorize_labels', 'image_caption', 'normals_to_rgb'
]
