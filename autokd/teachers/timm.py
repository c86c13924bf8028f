"""A timm teacher: created for the data (transformers with patches that suit the image), trained
once and cached, or loaded from a checkpoint with the misfit explained in the user's terms.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autokd.data import DataBundle
from autokd.distill.config import TrainConfig
from autokd.distill.engine import evaluate, fit
from autokd.errors import AutoKDError, UnknownNameError
from autokd.records.cache import atomic_write, say_damaged
from autokd.records.yamlfiles import stable_hash
from autokd.runtime.device import Execution
from autokd.runtime.settings import Settings
from autokd.teachers.cost import check_teacher_cost, estimate_teacher_cost
from autokd.teachers.prepared import PreparedTeacher, tensors_digest, weights_digest

TEACHER_LR = 2e-3
# The teacher's training recipe: AdamW at TEACHER_LR with the engine's warm-up and cosine
# schedule, on the data's random views (its --augment-policy: shifted digits, cropped and
# flipped photos) when it has them: a teacher that generalises better than its students is what
# makes distillation pay. Part of the cache key (the policy too, through the data key); bump it
# when the recipe changes.
TEACHER_RECIPE = 2


@functools.cache
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def check_timm_name(name: str) -> str:
    """A model name timm knows; the error lists the closest ones."""
    import timm

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

    check_timm_name(name)
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


def _save_hint(name: str) -> str:
    return (
        f"save `model.state_dict()` of the timm model '{name}' with torch.save and pass that file"
    )


def _unreadable(path: Path, name: str, err: Exception) -> str:
    """Why torch.load refused `path`, in one line: a whole pickled model (or other Python objects
    that `weights_only` loading refuses, since unpickling them could run code) is named as such;
    anything else keeps PyTorch's own reason, its first line without terminal colours."""
    pickled = _pickled_objects(path, err)
    if any(g.startswith(("torch.nn.modules.", "timm.")) for g in pickled):
        return f"'{path}' holds a whole pickled model, not a state_dict; {_save_hint(name)}"
    if pickled:
        return (
            f"'{path}' pickles Python objects besides tensors ({', '.join(sorted(pickled)[:3])}), "
            f"which autokd does not load (unpickling them could run code); {_save_hint(name)}"
        )
    return f"'{path}' is not a readable PyTorch checkpoint ({_first_line(err)}); {_save_hint(name)}"


def _pickled_objects(path: Path, err: Exception) -> list[str]:
    """The classes and functions beyond tensors a torch.save file pickles, read without loading
    any of them (from the archive, or for torch's older format the one `err` names); [] for a
    file that pickles none, or is no checkpoint at all."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - not an archive torch can list
        return re.findall(r"Unsupported global: GLOBAL ([\w.]+)", str(err))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _first_line(err: Exception) -> str:
    """A foreign error in one line: terminal escape codes dropped, and for torch's long
    `weights_only` refusal the unpickler's own reason (the rest is advice to unpickle anyway)."""
    text = _ANSI.sub("", str(err)).strip()
    reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    line = reason.group(1) if reason else (text.splitlines() or [type(err).__name__])[0]
    return line.strip().rstrip(".") or type(err).__name__


def load_checkpoint(model: nn.Module, name: str, path: Path, data: DataBundle) -> None:
    """Load a teacher checkpoint, explaining a misfit in the user's terms (classes, channels)."""
    if not path.is_file():
        raise AutoKDError(f"teacher weights file '{path}' does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise AutoKDError(_unreadable(path, name, err)) from None
    state = _unwrap_state_dict(obj)
    if state is None:
        raise AutoKDError(
            f"'{path}' holds no state dict (a mapping of parameter names to tensors); "
            f"{_save_hint(name)}"
        )
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


def _load_cached(model: nn.Module, path: Path) -> bool:
    """Load the cached teacher at `path` into `model` when it is intact: readable, the weights
    of this architecture, their digest the one stored with them (an entry from before digests
    has none to check). A damaged one is said once and is a miss: trained again, replaced."""
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        state = stored["state_dict"]
        recorded = stored.get("digest")
        if recorded is not None and recorded != tensors_digest(state):
            raise ValueError("its weights do not match their stored checksum")
        model.load_state_dict(state)
    except Exception as err:  # noqa: BLE001 - any damage is a miss, never a stop
        say_damaged(path, _first_line(err))
        return False
    return True


def teacher_cache_path(
    name: str,
    data: DataBundle,
    *,
    epochs: int,
    seed: int,
    pretrained: bool = False,
    cache_dir: Path,
) -> Path:
    key = stable_hash([name, data.key, epochs, seed, pretrained, TEACHER_LR, TEACHER_RECIPE])
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", data.name.split(":")[0])  # folder:/a/b -> folder
    return cache_dir / "teachers" / f"{name}-{label}-{key}.pt"


def prepare_timm_teacher(
    name: str,
    data: DataBundle,
    *,
    weights: Path | None = None,
    epochs: int | None = None,  # of training, when it is neither given nor cached
    seed: int = 0,
    pretrained: bool = False,
    progress: bool = True,
    execution: Execution | None = None,
    max_minutes: float | None = None,
    settings: Settings,
) -> PreparedTeacher:
    """A timm teacher: from `weights`, from the cache, or trained now (once) and cached.

    With `pretrained`, training starts from timm's pretrained weights (a download) instead of
    random ones, i.e. the teacher is fine-tuned on the data. It trains, and stays, on
    `execution`'s device. Before it trains, its time and memory there are estimated and said;
    past `max_minutes` (None or 0: no bound) or the memory it has, it is refused (`cost.py`).
    """
    execution = execution or Execution()
    started = time.perf_counter()
    if weights is not None and not weights.is_file():
        raise AutoKDError(f"teacher weights file '{weights}' does not exist")
    if weights is None and epochs is None:
        raise ValueError("a teacher without weights needs `epochs` (its cache key and schedule)")
    torch.manual_seed(seed)  # the teacher's initial weights: the cache key holds the seed
    cache_dir = settings.cache_dir
    path = weights or teacher_cache_path(
        name, data, epochs=epochs, seed=seed, pretrained=pretrained, cache_dir=cache_dir
    )
    model = create_teacher(name, data, pretrained=pretrained and not path.is_file())
    if weights is not None:
        load_checkpoint(model, name, path, data)
        model.to(execution.torch_device)
        source = "file"
    elif path.is_file() and _load_cached(model, path):
        model.to(execution.torch_device)
        source = "cache"
    else:  # not cached, or the cached one is damaged: trained (again) and cached
        _check_cost(model, name, data, epochs, max_minutes, progress=progress, execution=execution)
        torch.manual_seed(seed)
        model = create_teacher(name, data, pretrained=pretrained)
        _train_teacher(
            model, name, data, epochs=epochs, seed=seed, progress=progress, execution=execution
        )
        weights_now = {key: tensor.cpu() for key, tensor in model.state_dict().items()}
        state = {
            "state_dict": weights_now,
            "digest": tensors_digest(weights_now),  # checked when read (`_load_cached`)
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


def _check_cost(
    model: nn.Module, name: str, data: DataBundle, epochs: int, max_minutes: float | None, *,
    progress: bool, execution: Execution,
) -> None:  # fmt: skip
    """Say what training the teacher will cost, and refuse it past the bounds: `model` is a
    throwaway of its architecture (the teacher is created again from its seed)."""
    batch_size = _recipe(data, epochs, seed=0).batch_size
    cost = estimate_teacher_cost(
        model, name, data, epochs=epochs, batch_size=batch_size, execution=execution
    )
    if progress:
        print(f"autokd: {cost.describe()}", file=sys.stderr)
    check_teacher_cost(cost, max_minutes=max_minutes, device=execution.device)


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
    from autokd.runtime.progress import epoch_bar

    with epoch_bar(f"teacher {name}", epochs, enabled=progress) as show:
        fit(model, data, _recipe(data, epochs, seed), callbacks=[show], execution=execution)


def _recipe(data: DataBundle, epochs: int, seed: int) -> TrainConfig:
    """The teacher's training schedule (TEACHER_RECIPE)."""
    return TrainConfig(epochs=epochs, lr=TEACHER_LR, seed=seed, augment=data.augment is not None)
