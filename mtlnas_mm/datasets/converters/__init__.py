"""Converters from public data set releases to the project's layouts.

:mod:`.normals_from_depth` estimates surface normals from depth maps;
:mod:`.nyuv2_official` converts the official NYU Depth v2 labeled release
(``nyu_depth_v2_labeled.mat`` + ``splits.mat``) to the NDDR-CNN / MTL-NAS
layout read by :class:`~mtlnas_mm.datasets.NYUv2MultiTaskDataset`. Neither
is imported by ``mtlnas_mm.datasets``: they need ``h5py`` / ``scipy``
(``pip install -e .[nyuv2]``) only when used.
"""
