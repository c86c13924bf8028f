"""What the engine distils from: the teacher's outputs on every training image, computed once per
teacher and data set and cached (`teacher_outputs`), or the teacher run live on every batch
(`LiveTeacher`, for augmented training).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autokd.data import DataBundle
from autokd.distill.engine import TeacherSignal
from autokd.records.cache import atomic_write, say_damaged
from autokd.runtime.device import tensor_bytes
from autokd.runtime.settings import Settings
from autokd.teachers.prepared import PreparedTeacher, tensors_digest

MAX_TRANSFORMER_LEVELS = 4  # its feature levels: 4 blocks, evenly spaced, ending at the last


def feature_indices(model: nn.Module) -> list[int] | None:
    """Which blocks a teacher's feature levels come from: every stage of a CNN (None: timm's
    default), MAX_TRANSFORMER_LEVELS evenly spaced blocks of a transformer, whose blocks all
    keep one token grid (caching all twelve of a ViT would take 12x the memory for little)."""
    blocks = getattr(model, "blocks", None)
    if not hasattr(model, "patch_embed") or blocks is None or len(blocks) <= MAX_TRANSFORMER_LEVELS:
        return None
    n = len(blocks)
    levels = MAX_TRANSFORMER_LEVELS
    return [math.ceil((i + 1) * n / levels) - 1 for i in range(levels)]


class TeacherOutputs:
    """The teacher's logits and feature maps on every training image, indexed like `train_x`."""

    def __init__(self, logits: torch.Tensor, features: list[torch.Tensor]) -> None:
        self.logits = logits
        self.features = features
        self.feature_shapes = [tuple(f.shape[1:]) for f in features]
        self.follows_inputs = False  # looked up by index: the original training images only

    @property
    def nbytes(self) -> int:
        return tensor_bytes(self.logits, *self.features)

    def to(self, device: torch.device) -> TeacherOutputs:
        """The same outputs on `device`: looked up there, batch by batch, without a copy."""
        return TeacherOutputs(self.logits.to(device), [f.to(device) for f in self.features])

    def __call__(
        self, index: torch.Tensor, x: torch.Tensor, levels: list[int]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.logits[index], [self.features[level][index] for level in levels]


class LiveTeacher:
    """Runs the teacher on every batch: what caching saves (and what augmented training needs)."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, int, int]) -> None:
        self.model = model.eval()
        device = next(model.parameters()).device
        _, features = run_teacher(model, torch.zeros(1, *input_shape, device=device))
        self.feature_shapes = [tuple(f.shape[1:]) for f in features]
        self.follows_inputs = True

    def __call__(
        self, index: torch.Tensor, x: torch.Tensor, levels: list[int]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, features = run_teacher(self.model, x)
        return logits, [features[level] for level in levels]


@torch.no_grad()
def run_teacher(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and every intermediate feature map (NCHW) from one forward pass of a timm model."""
    model.eval()
    if not hasattr(model, "forward_intermediates"):
        return model(x), []
    indices = feature_indices(model)
    if indices is None:
        final, intermediates = model.forward_intermediates(x)
    else:
        final, intermediates = model.forward_intermediates(x, indices=indices)
    return model.forward_head(final), list(intermediates)


def compute_teacher_outputs(
    model: nn.Module, x: torch.Tensor, *, batch_size: int = 256
) -> TeacherOutputs:
    """Run the teacher once over `x` (in order) and keep its logits and every feature level,
    in host memory (they are cached on disk, and moved to a GPU only where they fit)."""
    device = next(model.parameters()).device
    logits, features = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].to(device)
        batch_logits, batch_features = run_teacher(model, batch)
        logits.append(batch_logits.float().cpu())
        features.append([f.float().cpu() for f in batch_features])
    levels = [torch.cat(level).contiguous() for level in zip(*features, strict=True)]
    return TeacherOutputs(torch.cat(logits), levels)


def teacher_outputs(
    teacher: PreparedTeacher, data: DataBundle, *, settings: Settings
) -> tuple[TeacherOutputs, bool]:
    """The teacher's outputs on the training split (cached in `settings.cache_dir`, or computed
    now on the teacher's device), and whether cached; in host memory (see
    `distill.training.place_on_device`)."""
    cache_dir = settings.cache_dir
    path = cache_dir / "teacher_outputs" / f"{teacher.digest}-{data.key}.pt"
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        outputs = TeacherOutputs(stored["logits"], stored["features"])
        recorded = stored.get("digest")
        if recorded is not None and recorded != _outputs_digest(outputs):
            raise ValueError("its tensors do not match their stored checksum")
        return outputs, True
    except FileNotFoundError:
        pass
    except Exception as err:  # noqa: BLE001 - a damaged entry is recomputed and replaced
        say_damaged(path, str(err).splitlines()[0] if str(err) else type(err).__name__)
    outputs = compute_teacher_outputs(teacher.model, data.train_x)
    stored = {
        "logits": outputs.logits,
        "features": outputs.features,
        "digest": _outputs_digest(outputs),  # checked when read
    }
    atomic_write(path, lambda tmp: torch.save(stored, tmp))
    return outputs, False


def _outputs_digest(outputs: TeacherOutputs) -> str:
    named = {"logits": outputs.logits}
    named.update({f"feature{i}": feature for i, feature in enumerate(outputs.features)})
    return tensors_digest(named)


def teacher_signal(
    teacher: PreparedTeacher,
    data: DataBundle,
    *,
    augment: bool,
    settings: Settings,
) -> TeacherSignal:
    """The teacher live on every (randomly viewed) batch when augmenting, else its cached
    outputs on the stored images: what full training and validation distil from."""
    if augment:
        return LiveTeacher(teacher.model, data.input_shape)
    return teacher_outputs(teacher, data, settings=settings)[0]
