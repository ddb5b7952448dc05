# NDDR-CNN baseline on NYUv2 (VGG-16) with the official computation of
# bhpfelix/MTLNAS (configs/vgg/vgg_nyuv2_nddr.yaml, BACKBONE VGG16): the
# single-task official options (./single-task_vgg16_nyuv2_official.py) plus
# the official placement: an NDDR layer after pool1 .. pool4 and after pool5
# (max + avg), i.e. VGGLargeFOV(pool_position='block_end') with the heads'
# pool5 moved into the backbone (with_pool5=False); NDDR init (0.9, 0.1)
# (../_base_/edges/nddr.py) and the fusion lr x100, as ./nddr_vgg16_nyuv2.py.
#
# Start from the official single-task networks (the official code loads the
# NYUv2 fine-tuned seg / normal networks):
#   model.init_from=dict(seg=dict(checkpoint=...), normal=dict(checkpoint=...))
# with checkpoints of ./single-task_vgg16_nyuv2_official.py (pools have no
# parameters: the placement does not change the checkpoint keys).
#
# Remaining differences: those of ./single-task_vgg16_nyuv2_official.py.
_base_ = ['./single-task_vgg16_nyuv2_official.py', '../_base_/edges/nddr.py']
model = dict(
    backbone=dict(
        backbone=dict(pool_position='block_end'), edges={{_base_.edges}}),
    tasks=dict(
        seg=dict(head=dict(with_pool5=False)),
        normal=dict(head=dict(decoder=dict(with_pool5=False)))))
# the fusion ops learn 100x faster, as in the search
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone.edges': dict(lr_mult=100.0)}))
