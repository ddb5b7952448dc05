__version__ = '0.2.0'

#: the OpenMMLab versions the project supports, ``[min, max)``: the single
#: place for them (``setup.py`` reads them, ``import mtlnas_mm`` checks
#: them).  Tested: mmcv 2.1.0, mmengine 0.10.7, mmsegmentation 1.2.2,
#: mmpretrain 1.2.0 with torch 2.14.1.
SUPPORTED = {
    'mmcv': ('2.0.0', '2.2.0'),
    'mmengine': ('0.10.0', '1.0.0'),
    'mmsegmentation': ('1.2.0', '1.3.0'),
    'mmpretrain': ('1.2.0', '1.3.0'),
}
