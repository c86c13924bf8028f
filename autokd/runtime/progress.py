"""Progress bars over epochs, shared by every command that trains."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class EpochReport(Protocol):
    """What the bar shows of one epoch (the engine's `EpochReport` has it)."""

    epoch: int
    train_loss: float
    val_accuracy: float
    threads: int


@contextmanager
def epoch_bar(
    description: str, epochs: int, *, enabled: bool = True
) -> Iterator[Callable[[EpochReport], None]]:
    """A tqdm bar over `epochs`; yields the engine callback that moves it (to the epoch reported,
    so a resumed run starts where it stopped)."""
    from tqdm.auto import tqdm

    with tqdm(total=epochs, desc=description, unit="epoch", disable=not enabled) as bar:

        def show(report: EpochReport) -> None:
            bar.n = report.epoch
            bar.set_postfix(
                loss=f"{report.train_loss:.3f}",
                val_acc=f"{report.val_accuracy:.3f}",
                threads=report.threads,
            )  # fewer than at the start: other programs ran

        yield show
