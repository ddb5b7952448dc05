"""Install mtlnas_mm, an OpenMMLab plugin for multi-task architecture search.

torch/torchvision and mmcv are deliberately *not* listed in ``install_requires``:
mmcv 2.1.0 has to be compiled from source on this torch (see
``tools/setup_env.sh``), and listing it would make pip try to build or
download an incompatible copy.
"""
import os.path as osp

from setuptools import find_packages, setup


def get_version() -> str:
    ns: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mtlnas_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='mtlnas_mm',
    version=get_version(),
    description='MTL-NAS (multi-task neural architecture search) as an '
    'OpenMMLab / mmsegmentation plugin',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=[
        'mmengine==0.10.7',
        'mmsegmentation==1.2.2',
        'mmpretrain==1.2.0',
        'ftfy',
        'regex',
        'numpy',
        'opencv-python-headless',
        'matplotlib',
        'pillow',
        'pyyaml',
    ],
    extras_require={'tests': ['pytest', 'pytest-timeout']},
    license='Apache-2.0',
)
