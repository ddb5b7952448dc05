# The MTL-NAS search of mtlnas_vgg16_nyuv2.py in mixed precision: both steps
# under mmengine's AmpOptimWrapper, each optimizer with its own dynamic loss
# scaler. No dtype: float16 autocast on a GPU; on a CPU-only machine the
# project's constructors build CPUAmpOptimWrapper (bfloat16 autocast).
# The same as `tools/train.py configs/mtlnas/mtlnas_vgg16_nyuv2.py --amp`.
# On a GPU also consider model.network.channels_last=True (the layout of
# the tensor-core convolutions; README "Mixed precision").
_base_ = ['./mtlnas_vgg16_nyuv2.py']
optim_wrapper = dict(
    weight=dict(type='AmpOptimWrapper', loss_scale='dynamic'),
    arch=dict(type='AmpOptimWrapper', loss_scale='dynamic'))
