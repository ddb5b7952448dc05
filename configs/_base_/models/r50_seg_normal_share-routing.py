# The network of ./r50_seg_normal.py as a share-routing space: its
# backbone built K = 2 times (ShareRoutes' defaults: one sub-network per
# task, expected routes in the architecture step, sampled ones in the weight
# step, hard ones in eval), its 4 blocks the layers of sub-networks
# (ShareRoutes); the network a share-routing search config wraps.
_base_ = ['./r50_seg_normal.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='ShareRoutes',
        backbone={{_base_.model.backbone.backbone}}))
# one routed level: the heads read it at index 0
model['tasks'] = dict(
    seg=dict(head=dict(in_index=0)),
    normal=dict(head=dict(decoder=dict(in_index=0))))
