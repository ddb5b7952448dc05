# The tiny MTNAS network of ./mtnas-tiny_cells_seg_normal.py wrapped in the
# MTNAS algorithm: the stage configs choose what is searched (search=) and
# the genotype of the rest (genotype=).
_base_ = ['./mtnas-tiny_cells_seg_normal.py']
model = dict(
    _delete_=True, type='MTNAS', search='branches', genotype=None,
    network={{_base_.model}})
