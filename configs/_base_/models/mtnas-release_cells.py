# The release size of the MTNAS network (Xilinx/MTNAS): a 14-cell trunk,
# C = 32, reductions at cells 6, 9, 12 (taps at strides 4/8/16/32 with
# 128/256/512/1024 channels), branch cells of C = 32 (128-channel features).
# Named fields, merged by the release stage configs into the tiny ones.
release_backbone = dict(
    trunk=dict(channels=32, num_cells=14, reductions=(6, 9, 12)),
    branch=dict(channels=32))
release_tasks = dict(
    seg=dict(head=dict(in_channels=128, channels=128)),
    normal=dict(head=dict(decoder=dict(in_channels=128, channels=128))))
