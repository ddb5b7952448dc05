"""Install mtlnas_mm, an OpenMMLab plugin for multi-task architecture search.

The OpenMMLab packages are declared as the version ranges the project
supports (``mtlnas_mm/version.py``), so installing into an existing
OpenMMLab environment keeps its versions when they are supported.
torch/torchvision and mmcv are deliberately *not* listed in ``install_requires``:
mmcv 2.1.0 has to be compiled from source on this torch (see
``tools/setup_env.sh``), and listing it would make pip try to build or
download an incompatible copy.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version_file() -> dict:
    ns: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mtlnas_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns


VERSION = read_version_file()
#: OpenMMLab packages pip installs (mmcv is built by tools/setup_env.sh)
OPENMMLAB = [
    f'{name}>={low},<{high}'
    for name, (low, high) in VERSION['SUPPORTED'].items() if name != 'mmcv'
]


setup(
    name='mtlnas_mm',
    version=VERSION['__version__'],
    description='MTL-NAS (multi-task neural architecture search) as an '
    'OpenMMLab / mmsegmentation plugin',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=[
        *OPENMMLAB,
        'ftfy',
        'regex',
        'numpy',
        'opencv-python-headless',
        'matplotlib',
        'pillow',
        'pyyaml',
    ],
    extras_require={
        'tests': ['pytest', 'pytest-timeout', 'pytest-random-order',
                  'h5py', 'scipy'],
        # tools/dataset_converters/nyuv2.py (the official NYUv2 .mat files)
        'nyuv2': ['h5py', 'scipy'],
    },
    package_data={'mtlnas_mm.datasets.converters': ['data/*.json']},
    license='Apache-2.0',
)
