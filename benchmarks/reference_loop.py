"""The hand-written Optuna loop that autokd's search is compared with; no autokd search code.

Same data split and teacher as the default `autokd search --seed S` (digits at 16x16, resnet18
trained for 20 epochs; the seed picks the split and the teacher's initial weights, as autokd's
does; from autokd's loaders and cache); the teacher's logits on every training image are
computed once, before the timed loop. Each trial samples a plain CNN (1-3 stages of
conv-BN-ReLU, strides 1, 2, 2, a width, depth and kernel per stage) with temperature, alpha and lr
from TPE (multivariate, seeded) in an in-memory study that maximises validation accuracy and
minimises latency and FLOPs. FLOPs are fvcore's count on one 1x1x16x16 input: one fused
multiply-add is one flop. Latency: median of 50 timed calls at batch 1 after 5 warm-up calls.
Training: AdamW with a per-step cosine schedule, batch 64, loss alpha * KL(T) * T^2 + (1 - alpha)
* CE. The whole loop runs on one thread (torch.set_num_threads(1)).

Usage: python benchmarks/reference_loop.py [--trials 50] [--epochs 5] [--seed 0]
(seeds other than 0 write reference_loop_seed<N>.json)
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()  # before the heavy imports: the process wall time counts them

import argparse  # noqa: E402
import statistics  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from common import save_result  # noqa: E402
from fvcore.nn import FlopCountAnalysis  # noqa: E402
from torch import nn  # noqa: E402

from autokd.data import DataBundle, load_data  # noqa: E402
from autokd.study.pareto import hypervolume_2d  # noqa: E402
from autokd.teachers import prepare_teacher  # noqa: E402

WIDTHS = ([8, 16, 24], [16, 24, 32, 48], [24, 32, 48, 64])  # per stage, as in cnn.yaml
STRIDES = (1, 2, 2)
# (accuracy, FLOPs): worse than any student of either space, so the same point serves autokd's runs.
REFERENCE = (0.0, 30e6)


def hypervolume_acc_flops(
    accuracies: list[float], flops: list[float], reference: tuple[float, float] = REFERENCE
) -> float:
    """Area of the accuracy-FLOPs front (maximise accuracy, minimise FLOPs) up to `reference`
    (accuracy, FLOPs), with autokd's own 2-D hypervolume: apply it to autokd's trials to compare."""
    points = np.column_stack([accuracies, flops]) if len(accuracies) else np.empty((0, 2))
    return hypervolume_2d(points, ["maximize", "minimize"], reference)


def build(trial: optuna.Trial, channels: int, classes: int) -> nn.Module:
    layers, cin = [], channels
    for s in range(trial.suggest_int("stages", 1, 3)):
        width = trial.suggest_categorical(f"s{s + 1}_width", WIDTHS[s])
        kernel = trial.suggest_categorical(f"s{s + 1}_kernel", [3, 5])
        for i in range(trial.suggest_int(f"s{s + 1}_depth", 1, 3)):
            stride = STRIDES[s] if i == 0 else 1
            conv = nn.Conv2d(cin, width, kernel, stride, kernel // 2, bias=False)
            layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def latency_ms(model: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        for _ in range(5):  # warm-up: first calls pay for allocation
            model(x)
        times = []
        for _ in range(50):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def objective(
    trial: optuna.Trial, data: DataBundle, teacher_logits: torch.Tensor, epochs: int, seed: int
) -> tuple[float, float, int]:
    torch.manual_seed(seed + trial.number)
    model = build(trial, data.channels, data.classes)
    temperature = trial.suggest_float("temperature", 1.0, 8.0)
    alpha = trial.suggest_float("alpha", 0.0, 1.0)
    lr = trial.suggest_float("lr", 0.002, 0.02, log=True)
    x1 = torch.zeros(1, *data.input_shape)
    model.eval()  # fvcore traces: BatchNorm in training mode fails on a batch of 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, x1)
        analysis.unsupported_ops_warnings(False)
        flops = int(analysis.total())
    latency = latency_ms(model, x1)

    n, batch = len(data.train_y), 64
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * -(-n // batch))
    model.train()
    for _ in range(epochs):
        for index in torch.randperm(n).split(batch):
            logits = model(data.train_x[index])
            soft = F.kl_div(
                F.log_softmax(logits / temperature, dim=1),
                F.log_softmax(teacher_logits[index] / temperature, dim=1),
                reduction="batchmean",
                log_target=True,
            )
            hard = F.cross_entropy(logits, data.train_y[index])
            loss = alpha * soft * temperature**2 + (1 - alpha) * hard
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    model.eval()
    with torch.no_grad():
        predicted = model(data.val_x[:]).argmax(dim=1)
    accuracy = float((predicted == data.val_y).float().mean())
    return accuracy, latency, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    data = load_data("digits", seed=args.seed, input_size=None, subset=None, data_dir=None)
    teacher = prepare_teacher(
        "resnet18", data, weights=None, epochs=20, seed=args.seed, pretrained=False, progress=False
    )
    teacher.model.eval()
    with torch.no_grad():
        teacher_logits = torch.cat([teacher.model(b) for b in data.train_x[:].split(256)])

    sampler = optuna.samplers.TPESampler(seed=args.seed, multivariate=True)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
    started = time.perf_counter()
    study.optimize(
        lambda t: objective(t, data, teacher_logits, args.epochs, args.seed), n_trials=args.trials
    )
    search_s = time.perf_counter() - started

    objectives = ("accuracy", "latency_ms", "flops")
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    trials = [
        {"number": t.number, **dict(zip(objectives, t.values, strict=True))} for t in complete
    ]
    accuracies, flops = [t["accuracy"] for t in trials], [t["flops"] for t in trials]
    hypervolume = hypervolume_acc_flops(accuracies, flops)
    result = {
        "trials": args.trials,
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "teacher": {"accuracy": teacher.accuracy, "source": teacher.source},
        "search_s": round(search_s, 2),
        "wall_s": round(time.perf_counter() - PROCESS_START, 2),
        "best_accuracy": max(accuracies),
        "hypervolume_acc_flops": hypervolume,
        "hypervolume_reference": {"accuracy": REFERENCE[0], "flops": REFERENCE[1]},
        "flops_convention": "fvcore: one fused multiply-add = one flop",
        "all_trials": trials,
    }
    save_result("reference_loop" if args.seed == 0 else f"reference_loop_seed{args.seed}", result)
    print(
        f"reference loop: {len(trials)} trials x {args.epochs} epochs, search {search_s:.1f} s "
        f"(wall {result['wall_s']:.1f} s), best accuracy {max(accuracies):.4f}, "
        f"hypervolume (acc x FLOPs, ref {REFERENCE}) {hypervolume:.4g}, teacher {teacher.source}"
    )


if __name__ == "__main__":
    main()
