# The embedded default search (./mtlnas_vgg-tiny_synthetic.py) with edge
# pruning (FusionEdges(prune=...), not in the official recipe): an edge
# whose gate stayed below 0.05 for 15 consecutive architecture updates is
# no longer computed in either step (it stays in the exported candidate
# set, listed in meta['pruned']). Its measured effect on the iteration
# time and on the result: README, "Edge pruning during the search".
_base_ = ['./mtlnas_vgg-tiny_synthetic.py']
model = dict(
    network=dict(
        backbone=dict(edges=dict(prune=dict(below=0.05, patience=15)))))
