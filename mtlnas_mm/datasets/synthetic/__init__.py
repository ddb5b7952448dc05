"""Procedural indoor scenes that stand in for NYUv2.

Random furnished rooms are ray cast analytically (numpy) into RGB, NYUv2-40
labels, camera-frame surface normals and metric depth, with Kinect-like
invalid pixels, plus an image-level label (:mod:`.image_label`);
:mod:`.writer` stores them in the NDDR-CNN (PNG + lists) or mtan (``.npy``)
layout. ``tools/dataset_converters/make_synthetic_nyuv2.py`` is the CLI.
"""
from .image_label import (DOMINANT_OBJECT_CLASSES, DOMINANT_OBJECT_IDS,
                          dominant_object_label)
from .render import (SPLIT_CODES, SyntheticSample, image_rng, render_sample,
                     render_scene)
from .scene import SYNTHETIC_CLASSES, Camera, Primitive, Scene, sample_scene
from .writer import (LAYOUTS, benchmark, encode_depth_png, generate_dataset,
                     seg40_to_seg13, write_npy, write_nddr)

__all__ = [
    'DOMINANT_OBJECT_CLASSES', 'DOMINANT_OBJECT_IDS', 'dominant_object_label',
    'SPLIT_CODES', 'SyntheticSample', 'image_rng', 'render_sample',
    'render_scene', 'SYNTHETIC_CLASSES', 'Camera', 'Primitive', 'Scene',
    'sample_scene', 'LAYOUTS', 'benchmark', 'encode_depth_png',
    'generate_dataset', 'seg40_to_seg13', 'write_npy', 'write_nddr'
]
