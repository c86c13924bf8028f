"""The one ExecuTorch conversion autokd makes (the `executorch` and `executorch-int8` backends time
it, `autokd export` ships it): the student exported by `torch.export`, optionally quantized to
INT8 by PT2E with the XNNPACK quantizer, lowered to the XNNPACK delegate and serialised as a
`.pte` program, then loaded by ExecuTorch's runtime with the target's threads.

A `.pte` program has the shapes it was exported with: the timed program takes the target's batch,
the shipped one batch 1 (a phone classifies one image at a time), and its accuracy is measured
one image per call.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from autokd.errors import AutoKDError, TrialFailed


def require_executorch(why: str) -> None:
    """Fail with the install command when the `executorch` extra is missing."""
    try:
        with _quiet():
            import executorch.runtime  # noqa: F401
            from executorch.backends.xnnpack.partition import xnnpack_partitioner  # noqa: F401
    except ImportError:
        raise AutoKDError(
            f"{why}, which is not installed: pip install 'autokd[executorch]' (from a checkout: "
            "pip install -e '.[executorch]')"
        ) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.export, PT2E and the lowering warn about their own APIs (deprecations, registered
    enums) on every call, and ExecuTorch's C++ runtime logs its CPU probing and thread pool to
    the process's own stdout and stderr; a search's output keeps none of that."""
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    logging.getLogger("torch._export").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _fds_silenced():
        warnings.simplefilter("ignore")
        yield


_C_STDIO = ctypes.CDLL(None)


@contextlib.contextmanager
def _fds_silenced() -> Iterator[None]:
    """File descriptors 1 and 2 pointed at /dev/null meanwhile (C++ writes bypass Python's
    streams), then restored."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        _C_STDIO.fflush(None)  # C's buffered stdout too, or its log is written after the restore
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _calibration_batches(calibration: torch.Tensor, batch: int) -> list[torch.Tensor]:
    """`calibration` cut into batches of the program's batch size (repeated when it holds
    fewer images than one batch): the exported graph takes no other shape."""
    if len(calibration) < batch:
        calibration = calibration.repeat(-(-batch // len(calibration)), 1, 1, 1)
    return [calibration[i : i + batch] for i in range(0, len(calibration) - batch + 1, batch)]


def _quantized(model: nn.Module, example: torch.Tensor, calibration: torch.Tensor) -> nn.Module:
    """The model with INT8 operations by PT2E: the XNNPACK quantizer's symmetric scheme, INT8
    weights per channel and INT8 activations, calibrated on `calibration`."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    scheme = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer().set_global(scheme)
    prepared = prepare_pt2e(torch.export.export(model, (example,)).module(), quantizer)
    for images in _calibration_batches(calibration, len(example)):
        prepared(images)
    return convert_pt2e(prepared)


def to_pte(
    model: nn.Module, example: torch.Tensor, calibration: torch.Tensor | None = None
) -> bytes:
    """The model as an ExecuTorch program lowered to XNNPACK, for inputs shaped like `example`;
    INT8 when `calibration` images are given. A student the exporter, the quantizer or the
    lowering refuses fails its trial with the reason."""
    # The latency protocol runs under inference mode; export and calibration need plain tensors.
    with torch.inference_mode(False), torch.no_grad(), _quiet():
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        example = example.detach().cpu().clone(memory_format=torch.contiguous_format)
        try:
            model = model.eval().cpu()
            if calibration is not None:
                model = _quantized(model, example, calibration.detach().clone().cpu())
            exported = torch.export.export(model, (example,))
            lowered = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
            return bytes(lowered.to_executorch().buffer)
        except Exception as err:  # noqa: BLE001 - export and lowering raise many types
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TrialFailed(f"ExecuTorch cannot convert this student ({first})") from None


class LoadedProgram:
    """A program loaded by ExecuTorch's runtime and its `forward`: the method reads the
    program's memory, so the two live and die together (a method outliving its program
    crashes the process)."""

    def __init__(self, program: bytes, threads: int) -> None:
        with _quiet():
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
            from executorch.runtime import Runtime

            _unsafe_reset_threadpool(threads)  # one pool per process: the last count holds
            self.program = Runtime.get().load_program(program)
            self.forward = self.program.load_method("forward")

    def execute(self, inputs: list[torch.Tensor]) -> Any:
        return self.forward.execute(inputs)


def load_method(program: bytes, threads: int) -> LoadedProgram:
    """The program's `forward`, loaded with XNNPACK's thread pool set to `threads`."""
    return LoadedProgram(program, threads)


def predict_one_by_one(method: LoadedProgram, images: np.ndarray) -> np.ndarray:
    """Logits of a batch-1 program for every image of `images` (N, C, H, W)."""
    rows = [method.execute([torch.from_numpy(image[None].copy())])[0] for image in images]
    return torch.cat(rows).numpy()


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"executorch": version("executorch"), "torchao": version("torchao")}
