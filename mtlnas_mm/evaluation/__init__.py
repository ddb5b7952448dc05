"""Evaluation: metrics for segmentation + surface normals (+ depth)."""
from .metrics import *  # noqa: F401,F403
