"""LargeFOV head, dense regression and image heads, their losses, and the
geometry undone at test time."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mtlnas_mm.models.heads import restore_prediction
from mtlnas_mm.models import (CosineNormalLoss, DenseRegressionHead,
                              LargeFOVHead, MaskedDepthLoss)


def largefov(num_classes, **kw):
    return dict(type='LargeFOVHead', in_channels=8, channels=16,
                num_classes=num_classes, **kw)


def sample(h, w, **meta):
    meta.setdefault('ori_shape', (h, w))
    meta.setdefault('img_shape', (h, w))
    meta.setdefault('pad_shape', (h, w))
    return SegDataSample(metainfo=meta)


def test_largefov_head():
    head = MODELS.build(largefov(5, fc6_dilation=2))
    assert isinstance(head, LargeFOVHead)
    feats = (torch.randn(2, 8, 10, 12), )
    assert head(feats).shape == (2, 5, 10, 12)
    assert head.fc6.conv.dilation == (2, 2)
    assert head.fc6.bn.eps == 1e-3
    pool = head.pool5[1]
    assert pool.count_include_pad is False and pool.stride == 1
    assert isinstance(head.dropout, torch.nn.Dropout)
    samples = [sample(20, 24) for _ in range(2)]
    for s in samples:
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 20, 24)))
    losses = head.loss(feats, samples, None)
    assert set(losses) == {'loss_ce', 'acc_seg'}


def test_cosine_normal_loss_hand_value():
    pred = torch.zeros(1, 3, 1, 3)
    gt = torch.zeros(1, 3, 1, 3)
    pred[0, :, 0, 0] = torch.tensor([1., 0., 0.])
    gt[0, :, 0, 0] = torch.tensor([0., 1., 0.])  # cos 0
    pred[0, :, 0, 1] = torch.tensor([2., 2., 0.])
    gt[0, :, 0, 1] = torch.tensor([1., 0., 0.])  # cos 1/sqrt(2)
    pred[0, :, 0, 2] = torch.tensor([5., 5., 5.])  # gt zero: ignored
    loss = CosineNormalLoss(loss_weight=20.0)(pred, gt)
    expected = 20 * (1 - (0 + 1 / math.sqrt(2)) / 2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert CosineNormalLoss()(pred, torch.zeros_like(gt)).item() == 0.0


def test_masked_depth_loss_hand_value():
    pred = torch.tensor([1.0, 2.0, 3.0, 9.0]).view(1, 1, 1, 4)
    gt = torch.tensor([2.0, 2.0, 1.0, 0.0]).view(1, 1, 1, 4)
    assert MaskedDepthLoss('l1')(pred, gt).item() == pytest.approx(1.0)
    assert MaskedDepthLoss('rmse')(pred, gt).item() == pytest.approx(
        math.sqrt(5 / 3), rel=1e-5)
    with pytest.raises(ValueError, match='mode'):
        MaskedDepthLoss('l3')


def test_normal_head_loss_and_unit_predictions():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(type='DenseRegressionHead', task='normal',
             decoder=largefov(3, align_corners=True),
             loss=dict(type='CosineNormalLoss', loss_weight=20.0))).eval()
    assert head.decoder.num_classes == 3 and head.align_corners is True
    feats = (torch.randn(2, 8, 5, 6), )
    gt = F.normalize(torch.randn(2, 3, 20, 24), dim=1)
    gt[:, :, :4] = 0  # invalid rows
    samples = [sample(20, 24) for _ in range(2)]
    for s, g in zip(samples, gt):
        s.gt_normal_map = PixelData(data=g)
    losses = head.loss(feats, samples)
    raw = F.interpolate(head(feats), size=(20, 24), mode='bilinear',
                        align_corners=True)
    cos = F.cosine_similarity(raw, gt, dim=1)[:, 4:]
    assert losses['loss_normal'].item() == pytest.approx(
        20 * (1 - cos.mean().item()), rel=1e-5)
    metas = [s.metainfo for s in samples]
    pred = head.predict(feats, metas)
    assert pred.shape == (2, 3, 20, 24)
    assert torch.allclose(pred.norm(dim=1), torch.ones(2, 20, 24), atol=1e-5)


def test_regression_head_config_errors():
    with pytest.raises(ValueError, match='decoder.num_classes'):
        DenseRegressionHead(decoder=largefov(4), task='normal')
    with pytest.raises(ValueError, match='task'):
        DenseRegressionHead(decoder=largefov(3), task='albedo')


def test_normal_postprocess_flip_padding_resize():
    head = DenseRegressionHead(decoder=largefov(3), task='normal')
    pred = F.normalize(torch.randn(1, 3, 10, 12), dim=1)
    # padded right by 2 and bottom by 2, horizontally flipped
    s = sample(8, 10, ori_shape=(16, 20), pad_shape=(10, 12),
               padding_size=[0, 2, 0, 2], flip=True,
               flip_direction='horizontal')
    out = restore_prediction(pred, s.metainfo, head.align_corners,
                             is_vector=True)
    assert out.shape == (3, 16, 20)
    assert torch.allclose(out.norm(dim=0), torch.ones(16, 20), atol=1e-5)
    crop = pred[:, :, :8, :10].flip(dims=(3, ))
    crop[:, 0] = -crop[:, 0]
    expected = F.normalize(F.interpolate(crop, size=(16, 20),
                                         mode='bilinear'), dim=1)[0]
    assert torch.allclose(out, expected, atol=1e-6)
    # vertical flip negates y
    s2 = sample(10, 12, flip=True, flip_direction='vertical')
    out2 = restore_prediction(pred, s2.metainfo, head.align_corners,
                              is_vector=True)
    v = pred[0].flip(dims=(1, ))
    assert torch.allclose(out2[1], -v[1], atol=1e-6)
    assert torch.allclose(out2[0], v[0], atol=1e-6)


def test_depth_head():
    head = DenseRegressionHead(
        decoder=dict(type='FCNHead', in_channels=8, channels=8, num_convs=1),
        task='depth', loss=dict(type='MaskedDepthLoss', mode='rmse'))
    feats = (torch.randn(2, 8, 6, 6), )
    samples = [sample(12, 12) for _ in range(2)]
    for s in samples:
        d = torch.rand(1, 12, 12) * 5
        d[:, :3] = 0
        s.gt_depth_map = PixelData(data=d)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_depth'} and losses['loss_depth'] > 0
    pred = head.predict(feats, [s.metainfo for s in samples])
    assert pred.shape == (2, 1, 12, 12) and bool((pred > 0).all())
    with pytest.raises(KeyError, match='gt_depth_map'):
        head.loss(feats, [sample(12, 12), sample(12, 12)])


def test_image_classification_head():
    from mmpretrain.models.heads import StackedLinearClsHead
    from mmpretrain.models.necks import GlobalAveragePooling
    from mtlnas_mm.models import ImageClassificationHead
    torch.manual_seed(0)
    head = MODELS.build(dict(type='ImageClassificationHead', in_channels=8,
                             num_classes=4, hidden_channels=16,
                             dropout_ratio=0.5))
    assert isinstance(head, ImageClassificationHead)
    # wraps mmpretrain: GAP neck + fc(16) -> ReLU -> dropout -> fc(4)
    assert isinstance(head.gap, GlobalAveragePooling)
    assert isinstance(head.classifier, StackedLinearClsHead)
    assert head.classifier.mid_channels == [16]
    assert head.classifier.layers[0].dropout.p == 0.5
    assert head.classifier.fc.fc.out_features == 4
    assert isinstance(head.dropout, torch.nn.Identity)
    head.init_weights()
    feats = (torch.randn(3, 4, 6, 6), torch.randn(3, 8, 5, 7))
    logits = head(feats)
    assert logits.shape == (3, 4)
    samples = [sample(20, 24) for _ in range(3)]
    labels = [2, 0, 3]
    for s, label in zip(samples, labels):
        s.gt_label = torch.tensor([label])
    head.eval()  # no dropout: the loss is plain softmax cross-entropy
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_ce', 'acc_cls'}
    ref = F.cross_entropy(head(feats), torch.tensor(labels))
    assert losses['loss_ce'].item() == pytest.approx(ref.item(), rel=1e-6)
    hit = (head(feats).argmax(1) == torch.tensor(labels)).float().mean()
    assert losses['acc_cls'].shape == ()
    assert losses['acc_cls'].item() == pytest.approx(100 * hit.item())
    losses['loss_ce'].backward()
    assert head.classifier.fc.fc.weight.grad.abs().sum() > 0
    assert head.classifier.layers[0].fc.weight.grad.abs().sum() > 0
    # top-1 accuracy also when every logit is negative (mmpretrain's
    # cal_acc would count no hit below its score threshold 0)
    with torch.no_grad():
        head.classifier.fc.fc.bias.fill_(-100.)[2] = -99.  # class 2 wins
    hit = (head(feats).argmax(1) == torch.tensor(labels)).float().mean()
    assert (head(feats) < 0).all() and hit.item() == pytest.approx(1 / 3)
    assert head.loss(feats, samples)['acc_cls'].item() == pytest.approx(
        100 * hit.item())

    scores = head.predict(feats, [s.metainfo for s in samples])
    assert torch.allclose(scores.sum(1), torch.ones(3))
    with pytest.raises(ValueError, match='in_index=-1'):
        head((torch.randn(1, 5, 4, 4), ))
    with pytest.raises(KeyError, match='gt_label'):
        head.loss(feats, [sample(4, 4)] * 3)
    samples[1].gt_label = torch.tensor([1, 2])
    with pytest.raises(ValueError, match=r'sample 1 .* shape \(2,\)'):
        head.loss(feats, samples)
    samples[1].gt_label = torch.tensor([0.5])
    with pytest.raises(ValueError, match=r'sample 1 .* torch\.float32'):
        head.loss(feats, samples)
    with pytest.raises(ValueError, match='num_classes'):
        ImageClassificationHead(8, 1)


def test_image_classification_head_classifier_config():
    """Shorthands map onto the mmpretrain head config; an explicit
    ``classifier`` is built in the mmpretrain scope whatever the default
    scope; conflicting values are refused."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models.heads import LinearClsHead
    from mmpretrain.models.losses import LabelSmoothLoss
    from mmseg.models.losses import CrossEntropyLoss
    from mtlnas_mm.models import ImageClassificationHead
    torch.manual_seed(0)
    # the scene task's form: LinearClsHead, dropout on the pooled feature
    head = ImageClassificationHead(8, 3, dropout_ratio=0.1,
                                   loss=dict(type='CrossEntropyLoss'))
    assert type(head.classifier) is LinearClsHead
    assert head.dropout.p == 0.1
    assert isinstance(head.classifier.loss_module, CrossEntropyLoss)
    assert head.loss_name == 'loss_ce'
    assert head.classifier.init_cfg['std'] == 0.01

    feats = (torch.randn(4, 8, 3, 3), )
    samples = [sample(4, 4) for _ in range(4)]
    for s, label in zip(samples, [0, 1, 2, 1]):
        s.gt_label = torch.tensor([label])
    with DefaultScope.overwrite_default_scope('mmseg'):
        head = MODELS.build(dict(
            type='ImageClassificationHead', in_channels=8, num_classes=3,
            classifier=dict(type='StackedLinearClsHead', mid_channels=[6],
                            loss=dict(type='LabelSmoothLoss',
                                      label_smooth_val=0.1))))
    assert head.classifier.fc.fc.in_features == 6
    assert isinstance(head.classifier.loss_module, LabelSmoothLoss)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'acc_cls'}
    assert losses['loss_cls'].requires_grad

    with pytest.raises(ValueError, match='classifier.num_classes=4'):
        ImageClassificationHead(8, 3, classifier=dict(num_classes=4))
    with pytest.raises(ValueError, match='hidden_channels'):
        ImageClassificationHead(8, 3, hidden_channels=6,
                                classifier=dict(type='LinearClsHead'))
    with pytest.raises(ValueError, match='classifier.dropout_rate'):
        ImageClassificationHead(
            8, 3, hidden_channels=6, dropout_ratio=0.5,
            classifier=dict(dropout_rate=0.2))
    with pytest.raises(ValueError, match='classifier.loss'):
        ImageClassificationHead(
            8, 3, loss=dict(type='CrossEntropyLoss'),
            classifier=dict(loss=dict(type='CrossEntropyLoss')))
    with pytest.raises(TypeError, match='ClsHead'):
        ImageClassificationHead(8, 3, classifier=dict(type='NoSuchHead'))


def test_image_caption_names_the_classes():
    from mtlnas_mm.visualization import image_caption
    s = sample(4, 4)
    assert image_caption(s) == ''
    s.gt_label = torch.tensor([2])
    s.pred_label = torch.tensor([0])
    assert image_caption(s, ['none', 'cabinet', 'bed']) == \
        'gt bed | pred none'
    assert image_caption(s) == 'gt 2 | pred 0'
