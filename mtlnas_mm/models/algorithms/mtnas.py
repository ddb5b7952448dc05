"""MTNAS (Liu et al., ACCV 2020): staged DARTS cell search of a multi-task
network's task branches and shared backbone."""
from typing import List, Optional, Sequence, Union

import torch.nn as nn

from mmseg.registry import MODELS
from mtlnas_mm.structures import BaseArchitecture, CellArchitecture
from ..search_spaces.darts_cells import DartsCellSpace
from .base import BaseNASAlgorithm

#: the named search stages: which spaces (by ``space_name``) are searched
SEARCH_STAGES = {
    'branches': lambda name: name.startswith('branches.'),
    'backbone': lambda name: name == 'backbone',
    'all': lambda name: True,
}


@MODELS.register_module()
class MTNAS(BaseNASAlgorithm):
    """First-order DARTS over the cell spaces of a
    :class:`CellMultiTaskBackbone`, one stage at a time.

    ``search`` picks the spaces searched in this stage; every other space
    is fixed to its genotype in ``genotype`` (the previous stage's export,
    or a given starting genotype):

    1. ``search='branches'``: every task branch is searched, the backbone
       fixed (a pretrained trunk, ``trunk.frozen=True`` with a
       ``Pretrained`` ``init_cfg``: its weights stay untouched too).
       The branches are independent given the backbone, so the sum of the
       task losses gives each branch's alphas exactly its own task's
       gradient (the seed's per-task branch search);
    2. ``search='backbone'``: the backbone searched under the sum of the
       task losses, the branches fixed to their stage-1 genotypes;
    3. retraining is not a search: the plain :class:`MultiTaskNetwork`
       with ``backbone.genotype=<stage-2 export>``.

    The bilevel step, the split of parameters (``arch_parameters()``), the
    optimizer constructor and the hooks are :class:`BaseNASAlgorithm`'s.
    The regulariser is the mean softmax entropy of the searched edges
    (weight 0 unless a hook sets it: plain DARTS).  :meth:`export` merges
    the genotypes of every space, searched or fixed, into one
    ``'cell_genotype'`` file that the next stage reads.

    Args:
        network: the network config (a :class:`MultiTaskNetwork` with a
            :class:`CellMultiTaskBackbone`).
        search: ``'branches'``, ``'backbone'``, ``'all'`` or a list of
            space names.
        genotype: a ``'cell_genotype'`` architecture (file, dict, object)
            with the genotypes of the spaces that are not searched.
        fix_subnet: fix every space (evaluation without search).
        data_preprocessor: see :class:`BaseNASAlgorithm`.
        init_cfg: mmengine init config.
    """

    regularizer_name = 'entropy'

    def __init__(self,
                 network: Union[dict, nn.Module],
                 search: Union[str, Sequence[str]] = 'branches',
                 genotype: Union[None, str, dict, CellArchitecture] = None,
                 fix_subnet: Union[None, str, dict, BaseArchitecture] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(network, fix_subnet=fix_subnet,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        others = [s for s in self.search_spaces
                  if not isinstance(s, DartsCellSpace)]
        if others:
            raise TypeError('MTNAS searches DARTS cell spaces only; the '
                            'network also has '
                            f'{sorted({type(s).__name__ for s in others})}')
        names = [s.space_name for s in self.search_spaces]
        if len(set(names)) != len(names):
            raise ValueError(f'MTNAS: duplicate space names {names}')
        self.search = search if isinstance(search, str) else list(search)
        if fix_subnet is not None:
            return  # every space is fixed already
        selected = self._selected(names)
        fixed = [s for s in self.search_spaces
                 if s.space_name not in selected and s.searchable]
        if fixed and genotype is None:
            raise ValueError(
                f'MTNAS(search={self.search!r}): the spaces '
                f'{[s.space_name for s in fixed]} are not searched in this '
                'stage and need their genotype (genotype=<file>)')
        if genotype is not None:
            if not fixed:
                raise ValueError(f'MTNAS(search={self.search!r}) searches '
                                 'every space; genotype would be ignored')
            source = genotype if isinstance(genotype, str) else 'genotype'
            arch = CellArchitecture.build(genotype)
            for space in fixed:
                space.fix(arch, source)

    def _selected(self, names: List[str]) -> List[str]:
        if isinstance(self.search, str):
            if self.search not in SEARCH_STAGES:
                raise ValueError(f'MTNAS.search: {self.search!r} is not a '
                                 f'stage ({sorted(SEARCH_STAGES)}) nor a '
                                 'list of space names')
            rule = SEARCH_STAGES[self.search]
            selected = [n for n in names if rule(n)]
        else:
            unknown = sorted(set(self.search) - set(names))
            if unknown:
                raise ValueError(f'MTNAS.search: unknown spaces {unknown}; '
                                 f'the network has {names}')
            selected = list(self.search)
        if not selected:
            raise ValueError(f'MTNAS.search={self.search!r} selects no '
                             f'space of {names}')
        return selected

    def export(self) -> CellArchitecture:
        """The genotypes of every space (searched: derived now; fixed:
        their genotype) in one architecture."""
        return CellArchitecture.merge(
            [s.derive() for s in self.search_spaces],
            meta=dict(search=self.search))
