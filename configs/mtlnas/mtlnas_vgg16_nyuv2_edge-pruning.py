# ./mtlnas_vgg16_nyuv2.py with edge pruning (FusionEdges(prune=...), not in
# the official recipe; see ./mtlnas_vgg-tiny_synthetic_edge-pruning.py):
# patience 1 % of the 20k-iteration search.
_base_ = ['./mtlnas_vgg16_nyuv2.py']
model = dict(
    network=dict(
        backbone=dict(edges=dict(prune=dict(below=0.05, patience=200)))))
