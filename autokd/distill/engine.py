"""The one training loop: every search trial and the teacher's own training use it.

Where the teacher's signal comes from is the caller's choice (`TeacherSignal`): the search passes
outputs computed once and cached, so the teacher never runs while students train.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from autokd.data import DataBundle, iterate_batches
from autokd.data.batches import TrainingBatches
from autokd.distill.config import KDConfig, TrainConfig
from autokd.distill.objective import DistillationLoss
from autokd.errors import AutoKDError
from autokd.records.cache import atomic_write
from autokd.runtime.cores import ThreadWatch, threads_kept
from autokd.runtime.device import Execution


class TeacherSignal(Protocol):
    """Teacher logits and feature maps for a batch of training images, looked up by their index."""

    feature_shapes: list[tuple[int, int, int]]  # (C, H, W) of every feature level the teacher has
    follows_inputs: bool  # answers for the images it is given (not only by index): augmentation

    def __call__(
        self, index: torch.Tensor, x: torch.Tensor, levels: list[int]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    diverged: bool = False  # the loss became NaN or infinite: the epoch ended there, training too
    threads: int = 0  # intra-op threads at the epoch's end (fewer than at the start: other
    # programs ran, `ThreadWatch`); 0 in a checkpoint of an older autokd


@dataclass(frozen=True)
class FitResult:
    val_accuracy: float  # after the last epoch
    best_val_accuracy: float
    epochs_run: int
    seconds: float
    diverged: bool  # the loss became NaN or infinite and training stopped early
    history: list[EpochReport] = field(default_factory=list)
    data_seconds: float = 0.0  # of `seconds`, spent waiting for batches (slicing, random views)
    first_loss: float = math.nan  # of this call's first batch (divergence: the loss grew)


EpochCallback = Callable[[EpochReport], None]


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """LR factor: linear warm-up to 1, then cosine decay to 0 at the last step."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 512,
    execution: Execution | None = None,
) -> float:
    """Top-1 accuracy of `model` in eval mode, on the device the model is on."""
    execution = execution or Execution()
    device = next(model.parameters(), torch.empty(0)).device  # a module without weights: cpu
    model.eval()
    correct = 0
    lock = execution.lock
    with lock.holding():  # evaluation is work on the cores too
        for start in range(0, len(y), batch_size):
            lock.yield_point()
            with execution.autocast():
                batch = x[start : start + batch_size]
                logits = model(batch.to(device, non_blocking=True, memory_format=_layout(batch)))
            labels = y[start : start + batch_size].to(device, non_blocking=True)
            correct += int((logits.argmax(dim=1) == labels).sum())
    return correct / max(1, len(y))


def fit(
    model: nn.Module,
    data: DataBundle,
    train: TrainConfig,
    *,
    kd: KDConfig | None = None,
    teacher: TeacherSignal | None = None,
    callbacks: Sequence[EpochCallback] = (),
    checkpoint: Path | None = None,
    execution: Execution | None = None,
) -> FitResult:
    """Train `model` on `data`: distilling from `teacher` when `kd` is given, on labels otherwise.

    `execution` is the device and precision (default: the CPU, float32); the model is moved
    there, and every batch with it. Training holds the machine's core lock shared and yields it
    between batches (`autokd.cores`), so no latency is timed on the cores while it trains.

    Feature terms need `model.forward_with_features` and `model.feature_channels` (every autokd
    student has both); plain logit training works for any module, timm teachers included.
    With `checkpoint`, the whole training state is saved there after every epoch, and a call that
    finds one continues from it: an interrupted run resumed ends exactly as an uninterrupted one.
    """
    if kd is not None and teacher is None:
        raise ValueError("distillation settings were given without a teacher signal")
    if train.augment and data.augment is None:
        raise ValueError(f"data set '{data.name}' defines no augmentation")
    if train.augment and kd is not None and not teacher.follows_inputs:
        raise ValueError(
            "augmented training needs a live teacher: cached outputs are for the original images"
        )
    torch.manual_seed(train.seed)
    execution = execution or Execution()
    device = execution.torch_device
    distiller = None  # the distillation objective and the feature adapters it trains
    if kd is not None:
        channels = getattr(model, "feature_channels", [])  # a timm teacher has none: logits only
        distiller = DistillationLoss(kd, channels, teacher.feature_shapes).to(device)
    # channels-last: oneDNN's convolutions run a student's training step about a quarter faster
    # on the CPU (benchmarks: 53 s -> 40 s for 12 trials); cuDNN prefers it under autocast too
    model.to(device, memory_format=torch.channels_last)
    if distiller:
        distiller.to(memory_format=torch.channels_last)
    scaler = execution.grad_scaler()  # float16 only: bfloat16 and float32 need no scaling
    params = list(model.parameters()) + (list(distiller.parameters()) if distiller else [])
    optimizer = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    steps_per_epoch = len(iterate_batches(len(data.train_y), train.batch_size))
    total_steps = train.epochs * steps_per_epoch
    warmup_steps = max(1, int(train.warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps)
    )
    # The batch order and the random views draw from their own generators, so turning
    # augmentation on does not change which images share a batch.
    generators = {
        "shuffle": torch.Generator().manual_seed(train.seed),
        "augment": torch.Generator().manual_seed(train.seed + 1),
    }
    levels = distiller.levels if distiller else []
    # Everything that changes during training, in one place: what a checkpoint holds.
    modules = {
        "model": model,
        "distiller": distiller,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
    }
    identity = {"train": train.to_dict(), "kd": kd.to_dict() if kd else None, "data": data.key}
    run = _RunState(identity=identity)
    if checkpoint is not None and checkpoint.is_file():
        run = run.restore_into(checkpoint, modules, generators)

    batch_source = TrainingBatches(
        data.train_x,
        data.train_y,
        data.augment if train.augment else None,
        workers=data.loader_workers,
    )
    started, waiting, lock = time.perf_counter(), _Waiting(), execution.lock
    thread_watch = ThreadWatch(enabled=device.type == "cpu")  # threads others keep waiting
    first_loss = math.nan
    first_epoch = train.epochs + 1 if run.diverged else run.epochs_done + 1  # a diverged run ended
    # the lock: shared with other workers, paused while a latency is timed; a thread the watch
    # drops is given back when this training ends (the next one judges afresh)
    with lock.holding(), threads_kept():
        for epoch in range(first_epoch, train.epochs + 1):
            epoch_start, loss_sum, batches, diverged = time.perf_counter(), 0.0, 0, False
            model.train()
            if distiller:
                distiller.train()
            lr = optimizer.param_groups[0]["lr"]
            order = iterate_batches(
                len(data.train_y), train.batch_size, generator=generators["shuffle"]
            )
            for index, x, y in waiting.over(batch_source.epoch(order, generators["augment"])):
                x = x.to(device, non_blocking=True, memory_format=torch.channels_last)
                y = y.to(device, non_blocking=True)
                lock.yield_point()  # a latency measurement waiting for the cores gets them now
                thread_watch.check()
                # the temperature schedule follows the steps taken (the LR scheduler counts them)
                progress = scheduler.last_epoch / max(1, total_steps - 1)
                loss = _distillation_loss(
                    model, distiller, teacher, levels, index, x, y, execution, progress
                )
                if not torch.isfinite(loss):
                    diverged = True
                    break
                # 4) the step: clipped gradients keep high learning rates from blowing up
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    nn.utils.clip_grad_norm_(params, train.grad_clip)
                    optimizer.step()
                else:  # float16: scale the loss, unscale before clipping
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(params, train.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                scheduler.step()
                loss_value = loss.detach().item()
                first_loss = loss_value if math.isnan(first_loss) else first_loss
                loss_sum, batches = loss_sum + loss_value, batches + 1
            accuracy = evaluate(model, data.val_x, data.val_y, execution=execution)
            report = EpochReport(
                epoch,
                train.epochs,
                loss_sum / max(1, batches),
                accuracy,
                lr,
                time.perf_counter() - epoch_start,
                diverged,
                torch.get_num_threads(),
            )
            run.record(report)
            if checkpoint is not None:
                run.save(checkpoint, modules, generators)
            for callback in callbacks:
                callback(report)
            if diverged:
                break
    history = run.history
    return FitResult(
        val_accuracy=history[-1].val_accuracy if history else 0.0,
        best_val_accuracy=max((h.val_accuracy for h in history), default=0.0),
        epochs_run=len(history),
        seconds=run.seconds_before + time.perf_counter() - started,
        diverged=run.diverged,
        history=history,
        data_seconds=waiting.seconds,
        first_loss=first_loss,
    )


def _layout(x: torch.Tensor) -> torch.memory_format:
    """channels-last for image batches (what the engine trains in), as they are otherwise."""
    return torch.channels_last if x.dim() == 4 else torch.contiguous_format


def _distillation_loss(
    model: nn.Module,
    distiller: DistillationLoss | None,
    teacher: TeacherSignal | None,
    levels: list[int],
    index: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    execution: Execution,
    progress: float,
) -> torch.Tensor:
    """One batch's loss: the labels alone, or the distillation terms `distiller` sums."""
    device = x.device
    # 1) the teacher's signal: cached tensors in the search, so no teacher forward here
    if distiller is not None:
        teacher_logits, teacher_features = teacher(index, x, levels)
        teacher_logits = teacher_logits.to(device, non_blocking=True)
        teacher_features = [f.to(device, non_blocking=True) for f in teacher_features]
    with execution.autocast():
        # 2) the student's forward, with stage features only when a feature term is on
        if levels:
            logits, features = model.forward_with_features(x)
        else:
            logits, features = model(x), None
        # 3) the loss, in float32: softmaxes at high temperature need the precision
        if distiller is None:
            return F.cross_entropy(logits.float(), y)
        return distiller(
            logits.float(),
            y,
            teacher_logits.float(),
            progress=progress,
            features=features,
            teacher_features=teacher_features,
        )


class _Waiting:
    """Time spent waiting for the next item of an iterator: the data's share of training."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def over(self, items: Iterable[Any]) -> Iterator[Any]:
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            item = next(iterator, None)
            self.seconds += time.perf_counter() - started
            if item is None:
                return
            yield item


@dataclass
class _RunState:
    """The bookkeeping of one training run that a checkpoint carries besides the modules."""

    identity: dict[str, Any]  # the settings; a checkpoint made with others is refused
    history: list[EpochReport] = field(default_factory=list)
    diverged: bool = False
    seconds_before: float = 0.0  # spent in earlier, interrupted calls
    _started: float = field(default_factory=time.perf_counter)

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def record(self, report: EpochReport) -> None:
        self.history.append(report)
        self.diverged = self.diverged or report.diverged

    def save(
        self, path: Path, modules: dict[str, Any], generators: dict[str, torch.Generator]
    ) -> None:
        state = {
            "identity": self.identity,
            "history": [asdict(h) for h in self.history],
            "diverged": self.diverged,
            "seconds": self.seconds_before + time.perf_counter() - self._started,
            "generators": {name: g.get_state() for name, g in generators.items()},
            **{name: m.state_dict() for name, m in modules.items() if m is not None},
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def restore_into(
        self, path: Path, modules: dict[str, Any], generators: dict[str, torch.Generator]
    ) -> _RunState:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
            raise AutoKDError(f"checkpoint '{path}' cannot be read ({err})") from None
        if state.get("identity") != self.identity:
            raise AutoKDError(
                f"checkpoint '{path}' was made with other training settings or data; "
                "start a new output folder instead of resuming this one"
            )
        for name, module in modules.items():
            if module is not None:
                module.load_state_dict(state[name])
        for name, generator in generators.items():
            generator.set_state(state["generators"][name])
        self.history = [EpochReport(**h) for h in state["history"]]
        self.diverged = bool(state["diverged"])
        self.seconds_before = float(state["seconds"])
        return self
