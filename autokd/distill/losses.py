"""Distillation losses as plain functions of tensors; `autokd.distill.terms` registers them.

Each function is the published loss, batch-averaged, without its published weight (the engine
calibrates every term's scale, `autokd.distill.objective`). Logit losses take (student logits,
teacher logits, labels, temperature);
feature losses take one student map and one teacher map (or pooled embeddings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autokd.distill.align import align_spatial


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """KL(teacher || student) of the softmaxes at temperature T, times T^2, averaged over the batch
    (Hinton et al. 2015). The T^2 factor keeps the soft term's gradients on the scale of the
    cross-entropy's as T grows."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def dkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    *,
    alpha: float = 1.0,
    beta: float = 8.0,
) -> torch.Tensor:
    """Decoupled KD (Zhao et al. 2022): alpha * TCKD + beta * NCKD, each times T^2.

    TCKD is the KL divergence of the binary (target, every other class) probabilities; NCKD the
    KL divergence of the softmaxes over the non-target classes alone.
    """
    target = F.one_hot(labels, student_logits.shape[1]).bool()
    p_student = F.softmax(student_logits / temperature, dim=1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=1)

    def binary(p: torch.Tensor) -> torch.Tensor:
        on_target = (p * target).sum(dim=1, keepdim=True)
        return torch.cat([on_target, 1.0 - on_target], dim=1).clamp_min(1e-12)

    b_student, b_teacher = binary(p_student), binary(p_teacher)
    tckd = (b_teacher * (b_teacher.log() - b_student.log())).sum(dim=1).mean()
    # Masking the target class out with a large negative logit leaves the others' softmax.
    masked = 1000.0 * target
    log_student_nt = F.log_softmax(student_logits / temperature - masked, dim=1)
    log_teacher_nt = F.log_softmax(teacher_logits / temperature - masked, dim=1)
    nckd = F.kl_div(log_student_nt, log_teacher_nt, reduction="batchmean", log_target=True)
    return (alpha * tckd + beta * nckd) * temperature**2


def _pearson_rows(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 1.0,
    *,
    beta: float = 1.0,
    gamma: float = 1.0,
) -> torch.Tensor:
    """DIST (Huang et al. 2022): T^2 (beta * inter + gamma * intra), where inter is 1 - the mean
    Pearson correlation of each image's class probabilities (student against teacher), intra the
    same over each class's probabilities across the batch."""
    p_student = F.softmax(student_logits / temperature, dim=1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=1)
    inter = 1.0 - _pearson_rows(p_student, p_teacher).mean()
    intra = 1.0 - _pearson_rows(p_student.t(), p_teacher.t()).mean()
    return temperature**2 * (beta * inter + gamma * intra)


def standardize_logits(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Logit standardization (Sun et al. 2024): each image's logits minus their mean, over their
    standard deviation, so the student matches the teacher's logit relations, not their scale."""
    mean = logits.mean(dim=1, keepdim=True)
    std = logits.std(dim=1, keepdim=True)
    return (logits - mean) / (std + eps)


def mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """FitNets (Romero et al. 2015): mean squared error between the adapted student map and the
    teacher's."""
    return F.mse_loss(student, teacher)


def attention_map(feature: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Spatial attention of a feature map (Zagoruyko and Komodakis 2017): the channel mean of the
    squared activations on the grid `size`, flattened and L2-normalised per image."""
    energy = feature.float().pow(2).mean(dim=1, keepdim=True)
    return F.normalize(align_spatial(energy, size).flatten(1), dim=1)


def at_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Attention transfer: mean squared difference of the two attention maps, on the teacher's
    grid. Channels need not match, so the term needs no adapter."""
    size = tuple(teacher.shape[-2:])
    return (attention_map(student, size) - attention_map(teacher, size)).pow(2).mean()


def _pairwise_distances(e: torch.Tensor) -> torch.Tensor:
    squared = e.pow(2).sum(dim=1)
    product = e @ e.t()
    distances = (squared.unsqueeze(0) + squared.unsqueeze(1) - 2 * product).clamp_min(1e-12).sqrt()
    return distances * (1 - torch.eye(len(e), device=e.device, dtype=e.dtype))


def _normalised_distances(e: torch.Tensor) -> torch.Tensor:
    d = _pairwise_distances(e)
    return d / d[d > 0].mean().clamp_min(1e-12)


def _angles(e: torch.Tensor) -> torch.Tensor:
    differences = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)
    return torch.bmm(differences, differences.transpose(1, 2)).flatten()


def rkd_loss(
    student: torch.Tensor, teacher: torch.Tensor, *, distance: float = 1.0, angle: float = 2.0
) -> torch.Tensor:
    """Relational KD (Park et al. 2019) on embeddings (a map is pooled to one vector per image):
    smooth-L1 between the students' and the teacher's mean-normalised pairwise distances, times
    `distance`, plus between the angles every triple of images forms, times `angle`."""
    s = student.float().mean(dim=(2, 3)) if student.dim() == 4 else student.float()
    t = teacher.float().mean(dim=(2, 3)) if teacher.dim() == 4 else teacher.float()
    with torch.no_grad():
        t_distances, t_angles = _normalised_distances(t), _angles(t)
    loss_distance = F.smooth_l1_loss(_normalised_distances(s), t_distances)
    loss_angle = F.smooth_l1_loss(_angles(s), t_angles)
    return distance * loss_distance + angle * loss_angle
