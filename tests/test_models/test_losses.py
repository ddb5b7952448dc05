"""Dense regression losses on hand-made cases, exact to the bit."""
import pytest
import torch

from mtlnas_mm.models.losses import (CosineNormalLoss, MaskedDepthLoss,
                                     MaskedRegressionLoss, masked_mean)


def exact(loss: torch.Tensor, expected: torch.Tensor) -> bool:
    return loss.dtype == expected.dtype and torch.equal(loss, expected)


def normals():
    """Three pixels: cos 1, cos 0 and an invalid (zero) ground truth."""
    pred = torch.tensor([[0., 0., 2.], [1., 0., 0.], [5., 5., 5.]])
    gt = torch.tensor([[0., 0., 1.], [0., 1., 0.], [0., 0., 0.]])
    as_map = lambda x: x.t().reshape(1, 3, 1, 3)  # noqa: E731
    return as_map(pred), as_map(gt)


def test_cosine_normal_loss_hand_case():
    pred, gt = normals()
    # valid pixels: 1 - cos = 0 and 1; mean 0.5, times 20
    assert exact(CosineNormalLoss(loss_weight=20.0)(pred, gt),
                 torch.tensor(10.0))
    # an explicit mask replaces the zero-vector rule
    mask = torch.tensor([[[False, True, False]]])
    assert exact(CosineNormalLoss()(pred, gt, mask), torch.tensor(1.0))
    # nothing valid: 0, and still in the graph
    pred.requires_grad_(True)
    loss = CosineNormalLoss()(pred, torch.zeros_like(gt))
    assert exact(loss, torch.tensor(0.0)) and loss.requires_grad
    # the target takes the prediction's dtype
    assert exact(CosineNormalLoss()(pred.detach().double(), gt),
                 torch.tensor(0.5, dtype=torch.float64))
    assert CosineNormalLoss().loss_name == 'loss_normal'


def test_masked_depth_loss_hand_case():
    pred = torch.tensor([1.5, 2., 5., 9.]).view(1, 1, 1, 4)
    gt = torch.tensor([1., 2., 4., 0.]).view(1, 1, 1, 4)
    # valid: gt > 0, |d - g| = 0.5, 0, 1
    assert exact(MaskedDepthLoss('l1')(pred, gt), torch.tensor(0.5))
    assert exact(MaskedDepthLoss('l1', loss_weight=2.0)(pred, gt),
                 torch.tensor(1.0))
    rmse = torch.sqrt(torch.tensor(1.25) / torch.tensor(3.0) + 1e-8)
    assert exact(MaskedDepthLoss('rmse')(pred, gt), rmse)
    assert exact(MaskedDepthLoss('l1', max_depth=3.0)(pred, gt),
                 torch.tensor(0.25))
    assert exact(MaskedDepthLoss('l1', min_depth=1.0)(pred, gt),
                 torch.tensor(0.5))
    assert MaskedDepthLoss().loss_name == 'loss_depth'


def test_shared_checks():
    for loss in (CosineNormalLoss(), MaskedDepthLoss()):
        assert isinstance(loss, MaskedRegressionLoss)
        with pytest.raises(ValueError,
                           match=f'{type(loss).__name__}: pred .* differ'):
            loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3))
    with pytest.raises(ValueError, match='mode must be one of'):
        MaskedDepthLoss('l3')
    assert exact(masked_mean(torch.tensor([1., float('nan')]),
                             torch.tensor([True, False])), torch.tensor(1.0))
