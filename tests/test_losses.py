"""Every shipped distillation term against values computed by hand in plain Python."""

import math

import pytest
import torch
import torch.nn.functional as F

from autokd.distill.config import KDConfig
from autokd.distill.losses import (
    at_loss,
    dist_loss,
    dkd_loss,
    kd_loss,
    mse_loss,
    rkd_loss,
    standardize_logits,
)
from autokd.distill.objective import CALIBRATION_BATCHES, DistillationLoss
from autokd.distill.terms import (
    FEATURES,
    LOGITS,
    get_term,
    list_terms,
    temperature_at,
)
from autokd.errors import UnknownNameError


def _softmax(values, temperature=1.0):
    exps = [math.exp(v / temperature) for v in values]
    return [e / sum(exps) for e in exps]


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def _pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    den = math.sqrt(sum((x - ma) ** 2 for x in a)) * math.sqrt(sum((y - mb) ** 2 for y in b))
    return num / den


def _smooth_l1(a, b):
    gaps = [abs(x - y) for x, y in zip(a, b, strict=True)]
    return sum(0.5 * g**2 if g < 1 else g - 0.5 for g in gaps) / len(a)


STUDENT, TEACHER = [1.0, 2.0, 0.5], [3.0, 0.0, 1.0]


def test_the_registry_ships_the_literatures_terms():
    assert list_terms(LOGITS) == ["dist", "dkd", "kd"]
    assert list_terms(FEATURES) == ["at", "fitnets", "rkd"]
    with pytest.raises(UnknownNameError, match="did you mean 'dkd'"):
        get_term(LOGITS, "dkdd")


def test_kd_loss_matches_a_hand_computed_value():
    temperature = 2.0
    expected = _kl(_softmax(TEACHER, temperature), _softmax(STUDENT, temperature)) * temperature**2
    got = kd_loss(torch.tensor([STUDENT]), torch.tensor([TEACHER]), None, temperature)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_averages_over_the_batch_and_is_zero_for_equal_logits():
    a = torch.tensor([STUDENT, [0.0, 0.0, 0.0]])
    b = torch.tensor([TEACHER, [0.0, 0.0, 0.0]])
    single = kd_loss(a[:1], b[:1], None, 4.0)
    assert kd_loss(a, b, None, 4.0).item() == pytest.approx(single.item() / 2, rel=1e-6)
    assert kd_loss(a, a, None, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_dkd_splits_target_and_non_target_parts():
    temperature, label, alpha, beta = 2.0, 0, 1.0, 8.0
    ps, pt = _softmax(STUDENT, temperature), _softmax(TEACHER, temperature)
    tckd = _kl([pt[label], 1 - pt[label]], [ps[label], 1 - ps[label]])
    others = [i for i in range(3) if i != label]
    nckd = _kl(
        _softmax([TEACHER[i] for i in others], temperature),
        _softmax([STUDENT[i] for i in others], temperature),
    )
    expected = (alpha * tckd + beta * nckd) * temperature**2
    got = dkd_loss(
        torch.tensor([STUDENT]), torch.tensor([TEACHER]), torch.tensor([label]), temperature,
        alpha=alpha, beta=beta,
    )  # fmt: skip
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_dist_correlates_within_images_and_within_classes():
    student = [[1.0, 2.0, 0.5], [0.0, -1.0, 2.0]]
    teacher = [[3.0, 0.0, 1.0], [0.5, 0.5, 2.0]]
    temperature, beta, gamma = 2.0, 1.5, 0.5
    ps = [_softmax(r, temperature) for r in student]
    pt = [_softmax(r, temperature) for r in teacher]
    inter = 1 - sum(_pearson(a, b) for a, b in zip(ps, pt, strict=True)) / 2
    columns = list(range(3))
    intra = 1 - sum(_pearson([row[c] for row in ps], [row[c] for row in pt]) for c in columns) / 3
    expected = temperature**2 * (beta * inter + gamma * intra)
    got = dist_loss(torch.tensor(student), torch.tensor(teacher), None, temperature,
                    beta=beta, gamma=gamma)  # fmt: skip
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_standardization_subtracts_the_mean_and_divides_by_the_spread():
    mean = sum(STUDENT) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in STUDENT) / 2)  # unbiased, as the paper's code
    got = standardize_logits(torch.tensor([STUDENT]))[0].tolist()
    assert got == pytest.approx([(v - mean) / std for v in STUDENT], rel=1e-5)
    shifted = standardize_logits(torch.tensor([[2 * v + 7 for v in STUDENT]]))[0].tolist()
    assert shifted == pytest.approx(got, rel=1e-5)


def test_fitnets_is_the_mean_squared_error():
    a = torch.tensor([[[[1.0, 2.0]]]])
    b = torch.tensor([[[[3.0, 2.0]]]])
    assert mse_loss(a, b).item() == pytest.approx((4.0 + 0.0) / 2)


def test_attention_transfer_compares_normalised_channel_energies():
    student = torch.tensor([[[[1.0, 0.0], [2.0, 1.0]], [[1.0, 1.0], [0.0, 1.0]]]])  # 2 channels
    teacher = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]] * 3])  # 3 channels: no adapter needed
    s_energy = [(1 + 1) / 2, (0 + 1) / 2, (4 + 0) / 2, (1 + 1) / 2]
    t_energy = [0.0, 1.0, 1.0, 1.0]

    def normalise(v):
        norm = math.sqrt(sum(x * x for x in v))
        return [x / norm for x in v]

    s, t = normalise(s_energy), normalise(t_energy)
    expected = sum((a - b) ** 2 for a, b in zip(s, t, strict=True)) / 4
    assert at_loss(student, teacher).item() == pytest.approx(expected, rel=1e-5)


def test_relational_kd_compares_distances_and_angles():
    student = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
    teacher = [[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]

    def distances(e):
        d = [[math.dist(a, b) for b in e] for a in e]
        mean = sum(x for row in d for x in row if x > 0) / 6
        return [x / mean for row in d for x in row]

    def angles(e):
        out = []
        for i in range(3):
            for j in range(3):
                for k in range(3):
                    u = [e[j][c] - e[i][c] for c in range(2)]
                    v = [e[k][c] - e[i][c] for c in range(2)]
                    nu, nv = math.hypot(*u), math.hypot(*v)
                    u = [x / nu for x in u] if nu else [0.0, 0.0]
                    v = [x / nv for x in v] if nv else [0.0, 0.0]
                    out.append(u[0] * v[0] + u[1] * v[1])
        return out

    distance_weight, angle_weight = 1.0, 2.0
    expected = distance_weight * _smooth_l1(distances(student), distances(teacher))
    expected += angle_weight * _smooth_l1(angles(student), angles(teacher))
    got = rkd_loss(torch.tensor(student), torch.tensor(teacher), distance=1.0, angle=2.0)
    assert got.item() == pytest.approx(expected, rel=1e-4)
    as_maps = rkd_loss(torch.tensor(student)[:, :, None, None].expand(3, 2, 2, 2),
                       torch.tensor(teacher)[:, :, None, None], angle=2.0)  # fmt: skip
    assert as_maps.item() == pytest.approx(expected, rel=1e-4)  # maps are pooled first


@pytest.mark.parametrize(
    ("schedule", "progress", "expected"),
    [("constant", 0.7, 4.0), ("linear", 0.0, 4.0), ("linear", 0.5, 2.5), ("linear", 1.0, 1.0),
     ("cosine", 0.0, 4.0), ("cosine", 0.5, 2.5), ("cosine", 1.0, 1.0),
     ("cosine", 0.25, 1 + 3 * (1 + math.cos(math.pi / 4)) / 2)],
)  # fmt: skip
def test_temperature_schedules_move_from_start_to_end(schedule, progress, expected):
    assert temperature_at(4.0, 1.0, schedule, progress) == pytest.approx(expected)


def test_alpha_weights_the_logit_term_and_one_minus_alpha_the_labels():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    labels = torch.tensor([0, 1, 2, 3])
    ce = F.cross_entropy(student, labels)
    kd = kd_loss(student, teacher, labels, 3.0)

    def objective(alpha, **kw):
        config = KDConfig(3.0, alpha, (), **kw)
        return DistillationLoss(config, [], [])(student, labels, teacher).item()

    assert objective(0.25) == pytest.approx((0.25 * kd + 0.75 * ce).item(), rel=1e-6)
    assert objective(0.0) == pytest.approx(ce.item())
    assert objective(1.0) == pytest.approx(kd.item())


def test_other_logit_terms_are_calibrated_to_kds_magnitude_on_the_first_batches():
    torch.manual_seed(0)
    batches = [(torch.randn(8, 5), torch.randn(8, 5) * 3, torch.randint(0, 5, (8,)))
               for _ in range(CALIBRATION_BATCHES + 2)]  # fmt: skip
    config = KDConfig(3.0, 1.0, (), logit_loss="dkd", settings=(("dkd_beta", 2.0),))
    objective = DistillationLoss(config, [], [])
    kd_sum = dkd_sum = 0.0
    for i, (s, t, y) in enumerate(batches):
        got = objective(s, y, t).item()
        dkd = dkd_loss(s, t, y, 3.0, beta=2.0).item()
        if i < CALIBRATION_BATCHES:
            kd_sum += kd_loss(s, t, y, 3.0).item()
            dkd_sum += dkd
        # c = sum of KD / sum of DKD over the batches so far, then fixed
        assert got == pytest.approx(kd_sum / dkd_sum * dkd, rel=1e-5)
    first = DistillationLoss(config, [], [])
    s, t, y = batches[0]
    assert first(s, y, t).item() == pytest.approx(kd_loss(s, t, y, 3.0).item(), rel=1e-5)
    restored = DistillationLoss(config, [], [])
    restored.load_state_dict(objective.state_dict())  # a resumed run keeps its calibration
    s, t, y = batches[-1]
    assert restored(s, y, t).item() == pytest.approx(objective(s, y, t).item(), rel=1e-6)
    standardized = DistillationLoss(KDConfig(3.0, 1.0, (), standardize=True), [], [])
    assert standardized(s, y, t).item() == pytest.approx(kd_loss(s, t, y, 3.0).item(), rel=1e-5)


def test_feature_terms_are_weighted_per_stage_and_calibrated_to_fitnets():
    torch.manual_seed(0)
    logits, teacher_logits = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([0, 1, 2, 0])
    student_maps = [torch.randn(4, 2, 4, 4), torch.randn(4, 3, 2, 2)]
    teacher_maps = [torch.randn(4, 5, 4, 4), torch.randn(4, 6, 2, 2)]
    config = KDConfig(2.0, 0.0, (0.5, 2.0), feature_loss="at")
    objective = DistillationLoss(config, [2, 3], [(5, 4, 4), (6, 2, 2)])
    assert objective.levels == [0, 1]
    assert not [p for p in objective.parameters() if p.requires_grad]  # AT: nothing to train
    got = objective(logits, labels, teacher_logits, features=student_maps,
                    teacher_features=teacher_maps).item()  # fmt: skip
    at = (0.5 * at_loss(student_maps[0], teacher_maps[0])
          + 2.0 * at_loss(student_maps[1], teacher_maps[1])).item()  # fmt: skip
    fitnets = objective.feature_reference(student_maps, teacher_maps).item()
    expected = F.cross_entropy(logits, labels).item() + fitnets / at * at
    assert got == pytest.approx(expected, rel=1e-5)
    none = DistillationLoss(KDConfig(2.0, 0.0, (0.5, 2.0), feature_loss="none"), [2, 3], [])
    assert none.levels == [] and none.features is None
