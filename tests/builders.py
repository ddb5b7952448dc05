"""Models and batches that several test modules build: the toy search
model of the bilevel-engine tests, the tiny MTNAS cell network, the tiny
MTL-NAS search in both memory layouts, tiny fused task columns and the
share-routing regressor.  One place for each, imported by name."""
import copy
import functools
import os.path as osp

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.structures import PixelData

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mtlnas_mm.datasets.correlated_regression import correlated_regression
from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
from mtlnas_mm.models import (BaseNASAlgorithm, BaseSearchSpace, ShareRouting,
                              TaskColumns)
from mtlnas_mm.structures import CellArchitecture
from runner_utils import ROOT, TINY_SEARCH


class ToyGates(BaseSearchSpace):
    """Two gates ``sigmoid(alpha)``; records the steps it is set to."""

    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(2))
        self.steps = []
        #: record after_arch_update calls too (off: the compile tests
        #: reuse this model and a growing record of tensors recompiles)
        self.record_updates = False

    def arch_parameters(self):
        return [self.alpha]

    def set_step(self, step):
        self.steps.append(step)

    def after_arch_update(self):
        # the alphas the update left (edge pruning reads them here)
        if self.record_updates:
            self.steps.append(('updated', self.alpha.detach().tolist()))

    def regularizer(self):
        p = torch.sigmoid(self.alpha)
        return -(p * p.log() + (1 - p) * (1 - p).log()).mean()

    def derive(self):
        raise NotImplementedError('the toy space has no export format')

    def fix(self, arch, source='architecture'):
        raise NotImplementedError('the toy space has no export format')


class ToyNetwork(BaseModel):
    """y = w2 * (x * w1 + g0 * x * v + g1 * x) with g = sigmoid(alpha)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.mixer = nn.Linear(4, 4, bias=False)
        self.head = nn.Linear(4, 1)
        self.gates = ToyGates()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        g = torch.sigmoid(self.gates.alpha)
        h = self.body(inputs) + g[0] * self.mixer(inputs) + g[1] * inputs
        out = self.head(h)
        if mode == 'loss':
            return {'toy.loss': ((out - data_samples)**2).mean()}
        return out


def ToySearchModel():
    """A NAS algorithm over the toy network (any search space works)."""
    return BaseNASAlgorithm(network=ToyNetwork())


def toy_batch(seed):
    g = torch.Generator().manual_seed(seed)
    return dict(inputs=torch.randn(8, 4, generator=g),
                data_samples=torch.randn(8, 1, generator=g))


def toy_constructor(**weights_kw):
    weights = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    weights.update(weights_kw)
    return BilevelOptimWrapperConstructor(
        dict(weight=weights,
             arch=dict(optimizer=dict(type='Adam', lr=0.01))))


NET_CFG = 'configs/_base_/models/mtnas-tiny_cells_seg_normal.py'


def mtnas_network_cfg(**backbone):
    cfg = copy.deepcopy(Config.fromfile(osp.join(ROOT, NET_CFG)).model)
    cfg.backbone.update(backbone)
    return cfg


#: a frozen trunk needs given weights (the file is read by init_weights,
#: which these tests do not call)
PRETRAINED = dict(type='Pretrained', checkpoint='trunk.pth')


def mtnas_network(**backbone):
    cfg = mtnas_network_cfg(**backbone)
    for task in cfg.tasks.values():  # deterministic forwards
        head = task.head.get('decoder', task.head)
        head['dropout_ratio'] = 0.0
    return cfg


@functools.lru_cache(maxsize=1)
def mtnas_genotype():
    """A genotype for every space of the tiny network (derived from a
    fresh supernet)."""
    torch.manual_seed(1)
    net = MODELS.build(mtnas_network())
    return CellArchitecture.merge([s.derive() for s in net.backbone.spaces()])


def build_mtnas(search='branches', genotype='auto', **backbone):
    torch.manual_seed(0)
    if genotype == 'auto':
        genotype = mtnas_genotype()
    return MODELS.build(dict(type='MTNAS', network=mtnas_network(**backbone),
                             search=search, genotype=genotype))


def image_batch(seed, n=2, size=32):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=g,
                                    dtype=torch.uint8))
        s = SegDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 40, (1, size, size), generator=g))
        s.gt_normal_map = PixelData(data=F.normalize(
            torch.randn(3, size, size, generator=g), dim=0))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def search_model_pair(config=TINY_SEARCH):
    """The same search model (same weights) in both layouts."""
    cfg = Config.fromfile(osp.join(ROOT, config)).model
    for task in cfg.network.tasks.values():  # deterministic forwards
        head = task.head.get('decoder', task.head)
        head['dropout_ratio'] = 0.0
    torch.manual_seed(0)
    plain = MODELS.build(copy.deepcopy(cfg))
    plain.init_weights()
    cfg.network.channels_last = True
    fast = MODELS.build(cfg)
    fast.init_weights()
    fast.load_state_dict(plain.state_dict())
    return plain, fast


COLUMN_TASKS = ['seg', 'normal']


COLUMN_BACKBONE = dict(type='VGGLargeFOV', base_channels=4)


def fusion_columns(tasks=COLUMN_TASKS, seed=0, **kw):
    """TaskColumns of tiny VGGs with FusionEdges(**kw)."""
    torch.manual_seed(seed)
    return TaskColumns(tasks, COLUMN_BACKBONE, edges=dict(type='FusionEdges', **kw))


#: the tasks of the share-routing regressor
ROUTING_TASKS = ['t1', 't2']


def routing_algorithm(k=2, dims=8, width=8, layers=2,
                      **kw) -> ShareRouting:
    return ShareRouting(
        network=dict(
            type='MultiTaskRegressor', tasks=ROUTING_TASKS, in_channels=width,
            backbone=dict(type='ShareRoutes', num_subnets=k,
                          backbone=dict(type='StagedMLP', in_channels=dims,
                                        channels=(width, ) * layers))),
        **kw)


def regression_batch(rho, n, seed, dims=8):
    x, y = correlated_regression(n, rho, dims=dims, seed=seed)
    return dict(inputs=x, data_samples=y)
