# The network of ./vgg16_largefov_seg_normal.py as a share-routing space: its
# backbone built K = 2 times, its 5 blocks the layers of sub-networks
# (ShareRoutes); the network a share-routing search config wraps.
_base_ = ['./vgg16_largefov_seg_normal.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='ShareRoutes',
        backbone={{_base_.model.backbone.backbone}},
        num_subnets=2,
        step_route_modes=dict(arch='expected', weight='sample'),
        eval_route_mode='hard'))
