import math

import pytest
import torch
import torch.nn.functional as F

from autokd.distill.losses import feature_loss, kd_loss, soft_hard_loss


def _softmax(values, temperature):
    exps = [math.exp(v / temperature) for v in values]
    return [e / sum(exps) for e in exps]


def test_kd_loss_matches_a_hand_computed_value():
    student, teacher, temperature = [1.0, 2.0, 0.5], [3.0, 0.0, 1.0], 2.0
    p = _softmax(teacher, temperature)
    q = _softmax(student, temperature)
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True)) * temperature**2
    got = kd_loss(torch.tensor([student]), torch.tensor([teacher]), temperature)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_averages_over_the_batch_and_is_zero_for_equal_logits():
    a = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    b = torch.tensor([[3.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    single = kd_loss(a[:1], b[:1], 4.0)
    assert kd_loss(a, b, 4.0).item() == pytest.approx(single.item() / 2, rel=1e-6)
    assert kd_loss(a, a, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_alpha_weights_the_soft_term_and_one_minus_alpha_the_labels():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    labels = torch.tensor([0, 1, 2, 3])
    ce = F.cross_entropy(student, labels)
    kd = kd_loss(student, teacher, 3.0)
    mixed = soft_hard_loss(student, labels, teacher, temperature=3.0, alpha=0.25)
    assert mixed.item() == pytest.approx((0.25 * kd + 0.75 * ce).item(), rel=1e-6)
    only_labels = soft_hard_loss(student, labels, teacher, temperature=3.0, alpha=0.0)
    assert only_labels.item() == pytest.approx(ce.item())
    only_teacher = soft_hard_loss(student, labels, teacher, temperature=3.0, alpha=1.0)
    assert only_teacher.item() == pytest.approx(kd.item())
    no_teacher = soft_hard_loss(student, labels, None, temperature=3.0, alpha=0.5)
    assert no_teacher.item() == pytest.approx(ce.item())


def test_feature_loss_is_the_mean_squared_error():
    a = torch.tensor([[[[1.0, 2.0]]]])
    b = torch.tensor([[[[3.0, 2.0]]]])
    assert feature_loss(a, b).item() == pytest.approx((4.0 + 0.0) / 2)
