"""The timm teacher: create it for the data, train it once (cached) or load a checkpoint, and
compute its outputs on the training images once, so no trial ever runs the teacher.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autokd.cache import atomic_write, cache_dir
from autokd.config import DEFAULT_TEACHER_EPOCHS, TrainConfig
from autokd.data import DataBundle
from autokd.device import Execution, tensor_bytes
from autokd.distill.engine import evaluate, fit
from autokd.errors import AutoKDError, UnknownNameError
from autokd.yamlfiles import stable_hash

TEACHER_LR = 2e-3
# The teacher's training recipe: AdamW at TEACHER_LR with the engine's warm-up and cosine
# schedule, on the data set's random views (shifted digits) when it has them: a teacher that
# generalises better than its students is what makes distillation pay. Part of the cache key;
# bump it when the recipe changes.
TEACHER_RECIPE = 2


@functools.cache
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def check_teacher_name(name: str) -> str:
    """A timm model name, or a list of them (`resnet18,resnet34:0.5`, see `teacher_ensemble`)."""
    import timm

    from autokd.teacher_ensemble import parse_teacher_spec

    members = parse_teacher_spec(name)
    if len(members) > 1 or members[0][1] != 1.0:
        for member, _ in members:
            check_teacher_name(member)
        return name
    if not timm.is_model(name):
        raise UnknownNameError(
            "teacher",
            name,
            _timm_names(),
            hint=" (timm model names: python -c 'import timm; print(timm.list_models())')",
        )
    return name


def create_teacher(name: str, data: DataBundle, *, pretrained: bool = False) -> nn.Module:
    """A timm model with the data's channels and classes that accepts the data's input size."""
    import timm

    check_teacher_name(name)
    kwargs: dict[str, Any] = {"in_chans": data.channels, "num_classes": data.classes}
    try:
        model = timm.create_model(name, pretrained=pretrained, **kwargs)
    except Exception as err:  # noqa: BLE001 - offline downloads fail with several error types
        if pretrained and _is_download_error(err):
            raise AutoKDError(
                f"could not download timm's pretrained weights for '{name}' (no internet?): pass "
                "--teacher-weights PATH with a checkpoint, or leave out --teacher-pretrained to "
                "train the teacher from scratch"
            ) from None
        raise AutoKDError(
            f"timm could not create teacher '{name}' with {data.channels} input channels and "
            f"{data.classes} classes: {err}"
        ) from None
    if hasattr(model, "patch_embed"):
        # A vision transformer: patches that suit the image (transformer_patch_size)
        model = _as_transformer_for(name, data, model, pretrained=pretrained, **kwargs)
    if not _accepts_input(model, data):
        # Transformers fix their input size at creation: ask for the data's size instead.
        try:
            model = timm.create_model(
                name, pretrained=pretrained, img_size=data.input_size, **kwargs
            )
        except TypeError:  # a model without an img_size argument: the size itself is the problem
            model = None
        if model is None or not _accepts_input(model, data):
            raise AutoKDError(
                f"teacher '{name}' cannot take {data.channels}x{data.input_size}x{data.input_size} "
                "inputs; choose another timm model"
            )
    return model


MIN_PATCHES_ACROSS = 7  # a transformer teacher's token grid: at least 7 x 7
MAX_TRANSFORMER_LEVELS = 4  # its feature levels: 4 blocks, evenly spaced, ending at the last


def transformer_patch_size(input_size: int) -> int:
    """The largest of 16, 8, 4, 2 and 1 that divides the image side and leaves at least
    MIN_PATCHES_ACROSS patches across it: 16 for 224 (14 x 14 tokens), 4 for 28 (7 x 7) and 32
    (8 x 8), 2 for 16 (8 x 8). timm resamples pretrained patch embeddings to it."""
    for patch in (16, 8, 4, 2):
        if input_size % patch == 0 and input_size // patch >= MIN_PATCHES_ACROSS:
            return patch
    return 1


def _as_transformer_for(
    name: str, data: DataBundle, model: nn.Module, *, pretrained: bool, **kwargs: Any
) -> nn.Module:
    import timm

    patch = transformer_patch_size(data.input_size)
    try:
        return timm.create_model(name, pretrained=pretrained, img_size=data.input_size,
                                 patch_size=patch, **kwargs)  # fmt: skip
    except TypeError:  # a transformer whose patch size is fixed: keep timm's
        return model


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


def _is_download_error(err: Exception) -> bool:
    names = {type(e).__name__ for e in (err, err.__cause__, err.__context__) if e is not None}
    return bool(
        names
        & {
            "LocalEntryNotFoundError",
            "ConnectionError",
            "URLError",
            "OfflineModeIsEnabled",
            "HfHubHTTPError",
        }
    )


def _accepts_input(model: nn.Module, data: DataBundle) -> bool:
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, *data.input_shape))
        return True
    except (RuntimeError, AssertionError, ValueError):
        return False


def weights_digest(model: nn.Module) -> str:
    """A hash of the teacher's weights: the identity of its cached outputs and of exports."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Checkpoints


def _unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict", "state_dict_ema"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    return None


def load_checkpoint(model: nn.Module, name: str, path: Path, data: DataBundle) -> None:
    """Load a teacher checkpoint, explaining a misfit in the user's terms (classes, channels)."""
    if not path.is_file():
        raise AutoKDError(f"teacher weights file '{path}' does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise AutoKDError(f"'{path}' is not a readable PyTorch checkpoint ({err})") from None
    state = _unwrap_state_dict(obj)
    if state is None:
        raise AutoKDError(f"'{path}' holds no state dict (a mapping of parameter names to tensors)")
    expected = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    classifier = f"{cfg.get('classifier', '')}.weight"
    first_conv = f"{cfg.get('first_conv', '')}.weight"
    for key, tensor in state.items():
        if key in expected and tensor.shape != expected[key].shape:
            if key == classifier and tensor.shape[0] != data.classes:
                raise AutoKDError(
                    f"teacher checkpoint '{path}' has {tensor.shape[0]} classes but data "
                    f"'{data.name}' has {data.classes}; train a teacher for this data or drop "
                    "--teacher-weights to let autokd train one"
                )
            if key == first_conv and tensor.ndim == 4 and tensor.shape[1] != data.channels:
                raise AutoKDError(
                    f"teacher checkpoint '{path}' takes {tensor.shape[1]} input channels but data "
                    f"'{data.name}' has {data.channels}"
                )
            raise AutoKDError(
                f"teacher checkpoint '{path}' does not fit timm model '{name}': '{key}' has shape "
                f"{tuple(tensor.shape)}, the model expects {tuple(expected[key].shape)}"
            )
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise AutoKDError(
            f"teacher checkpoint '{path}' does not fit timm model '{name}': {len(missing)} "
            f"parameters missing (e.g. {missing[:2]}), {len(unexpected)} unexpected "
            f"(e.g. {unexpected[:2]}); is it a checkpoint of another model?"
        )
    model.load_state_dict(state)


# --------------------------------------------------------------------------------------------
# The teacher a run distils from


@dataclass(frozen=True)
class PreparedTeacher:
    name: str
    model: nn.Module
    accuracy: float  # on the validation split
    source: str  # "trained" now, "cache" (trained by an earlier run), or "file"
    digest: str
    seconds: float  # spent training or loading it in this run
    path: Path | None  # the checkpoint on disk (None for an ensemble)
    members: tuple[PreparedTeacher, ...] = ()  # an ensemble's teachers (teacher_ensemble)

    def summary(self) -> dict[str, Any]:
        members = {"members": [m.summary() for m in self.members]} if self.members else {}
        return {
            **members,
            "name": self.name,
            "accuracy": self.accuracy,
            "source": self.source,
            "weights_digest": self.digest,
            "seconds": round(self.seconds, 2),
            "checkpoint": str(self.path) if self.path else None,
            "params": sum(p.numel() for p in self.model.parameters()),
        }


def teacher_cache_path(
    name: str, data: DataBundle, *, epochs: int, seed: int, pretrained: bool = False
) -> Path:
    key = stable_hash([name, data.key, epochs, seed, pretrained, TEACHER_LR, TEACHER_RECIPE])
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", data.name.split(":")[0])  # folder:/a/b -> folder
    return cache_dir() / "teachers" / f"{name}-{label}-{key}.pt"


def prepare_teacher(
    name: str,
    data: DataBundle,
    *,
    weights: Path | None = None,
    epochs: int = DEFAULT_TEACHER_EPOCHS,
    seed: int = 0,
    pretrained: bool = False,
    progress: bool = True,
    execution: Execution | None = None,
) -> PreparedTeacher:
    """The run's teacher: from `weights`, from the cache, or trained now (once) and cached.

    With `pretrained`, training starts from timm's pretrained weights (a download) instead of
    random ones, i.e. the teacher is fine-tuned on the data. It trains, and stays, on
    `execution`'s device. A comma list of names is an ensemble (`autokd.teacher_ensemble`).
    """
    from autokd.teacher_ensemble import is_ensemble, prepare_ensemble

    if is_ensemble(name):
        return prepare_ensemble(name, data, weights=weights, epochs=epochs, seed=seed,
                                pretrained=pretrained, progress=progress,
                                execution=execution)  # fmt: skip
    execution = execution or Execution()
    started = time.perf_counter()
    if weights is not None and not weights.is_file():
        raise AutoKDError(f"teacher weights file '{weights}' does not exist")
    torch.manual_seed(seed)  # the teacher's initial weights: the cache key holds the seed
    path = weights or teacher_cache_path(
        name, data, epochs=epochs, seed=seed, pretrained=pretrained
    )
    model = create_teacher(name, data, pretrained=pretrained and not path.is_file())
    if path.is_file():
        load_checkpoint(model, name, path, data)
        model.to(execution.torch_device)
        source = "file" if weights is not None else "cache"
    else:
        _train_teacher(
            model, name, data, epochs=epochs, seed=seed, progress=progress, execution=execution
        )
        state = {
            "state_dict": {key: tensor.cpu() for key, tensor in model.state_dict().items()},
            "name": name,
            "data": data.summary(),
            "epochs": epochs,
            "seed": seed,
            "pretrained": pretrained,
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        source = "trained"
    model.eval()
    accuracy = evaluate(model, data.val_x, data.val_y, execution=execution)
    return PreparedTeacher(
        name, model, accuracy, source, weights_digest(model), time.perf_counter() - started, path
    )


def _train_teacher(
    model: nn.Module,
    name: str,
    data: DataBundle,
    *,
    epochs: int,
    seed: int,
    progress: bool,
    execution: Execution,
) -> None:
    from autokd.progress import epoch_bar

    with epoch_bar(f"teacher {name}", epochs, enabled=progress) as show:
        recipe = TrainConfig(
            epochs=epochs, lr=TEACHER_LR, seed=seed, augment=data.augment is not None
        )
        fit(model, data, recipe, callbacks=[show], execution=execution)


# --------------------------------------------------------------------------------------------
# Teacher outputs, computed once per teacher and data set


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


def teacher_outputs(teacher: PreparedTeacher, data: DataBundle) -> tuple[TeacherOutputs, bool]:
    """The teacher's outputs on the training split (cached or computed now, on the teacher's
    device), and whether cached; in host memory (see `training.place_on_device`)."""
    path = cache_dir() / "teacher_outputs" / f"{teacher.digest}-{data.key}.pt"
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        return TeacherOutputs(stored["logits"], stored["features"]), True
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - an unreadable entry is recomputed and replaced
        path.unlink(missing_ok=True)
    outputs = compute_teacher_outputs(teacher.model, data.train_x)
    stored = {"logits": outputs.logits, "features": outputs.features}
    atomic_write(path, lambda tmp: torch.save(stored, tmp))
    return outputs, False
