# Share-routing search (ShareRoutes / ShareRouting) on generated
# NYUv2-like scenes: the 1/8-width VGG-16 LargeFOV built K = 2 times, its 5
# blocks the 5 layers of sub-networks; routes, gate queries and the task
# reads searched by the bilevel loop (expected route in the architecture
# step, sampled routes in the weight step), route cost weight 0.1, 600
# iterations from scratch on CPU.
_base_ = [
    '../_base_/models/vgg-tiny_largefov_seg_normal_share-routing.py',
    '../_base_/datasets/synthetic_seg_normal.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/share_routing_tiny.py'
]
model = dict(_delete_=True, type='ShareRouting', network={{_base_.model}},
             regularizer_weight=0.1)
custom_hooks = [dict(type='ArchitectureHook', interval=200,
                     history_interval=10)]
