# MTL-NAS search that starts exactly at the single-task pair of init_from:
# every fusion BN set from the data so that the fusion ops are the identity
# at step 0, in train mode too (a project option, off in the official
# recipe; see FusionIdentityStartHook).
_base_ = ['./mtlnas_vgg-tiny_synthetic.py']
default_hooks = dict(
    identity_start=dict(type='FusionIdentityStartHook'))
