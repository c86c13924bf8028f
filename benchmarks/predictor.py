"""The latency predictor after 10, 25 and 50 measured students, judged on 20 it never saw.

For each target (cpu-1t, onnxruntime, onnxruntime-int8 by default): 70 students sampled from
a space, each timed once on the target (alone, in this process, no cache); the additive
per-operator predictor (`autokd.measure.predictor`) is fitted on the first 10, 25 and 50 and
judged on the last 20: the share predicted within +-10% and Spearman's rank correlation. FLOPs'
own rank correlation with the measured latencies on the same 20 is the baseline (HELP reports
0.79 for FLOPs against 0.93 for its predictor).

Usage: python benchmarks/predictor.py [--targets cpu-1t,onnxruntime,onnxruntime-int8]
       [--space cnn] [--held-out 20]
Writes benchmarks/results/predictor.json and prints Markdown for the README. Run it alone.
"""

from __future__ import annotations

import argparse
import time

from common import save_result

SIZES = (10, 25, 50)


def measured(target_name: str, space: str, count: int) -> tuple[list, list[float], list[int]]:
    from autokd.measure.flops import count_flops
    from autokd.measure.latency import measure_latency
    from autokd.measure.predictor import operator_features
    from autokd.measure.targets import load_target
    from autokd.students import build_student
    from autokd.study.space import load_space, sample_architectures

    target = load_target(target_name)
    shape = (1, 16, 16)  # the digits' students
    configs = sample_architectures(load_space(space), shape, 10, count, seed=7)
    features, latencies, flops = [], [], []
    for number, config in enumerate(configs, 1):
        model = build_student(config)
        latencies.append(measure_latency(model, target, shape).median_ms)
        features.append(operator_features(config, shape, target.batch_size))
        flops.append(count_flops(model, shape))
        if number % 10 == 0:
            print(f"{target_name}: {number} of {count} timed", flush=True)
    return features, latencies, flops


def main() -> None:
    from scipy.stats import spearmanr

    from autokd.measure.predictor import held_out_error

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="cpu-1t,onnxruntime,onnxruntime-int8")
    parser.add_argument("--space", default="cnn")
    parser.add_argument("--held-out", type=int, default=20)
    args = parser.parse_args()
    count = max(SIZES) + args.held_out
    results = {}
    for name in args.targets.split(","):
        started = time.perf_counter()
        features, latencies, flops = measured(name, args.space, count)
        test = slice(max(SIZES), count)
        rows = {}
        for size in SIZES:
            learned = features[:size] + features[test]
            times = latencies[:size] + latencies[test]
            error = held_out_error(learned, times, trained_on=size)
            rows[size] = {"within": error.within, "spearman": error.spearman}
        flops_rho = float(spearmanr(flops[test], latencies[test]).statistic)
        results[name] = {
            "by_students": rows,
            "flops_spearman": flops_rho,
            "latencies_ms": latencies,
            "seconds": time.perf_counter() - started,
        }
        print(name, rows, "FLOPs Spearman", round(flops_rho, 3), flush=True)
    path = save_result("predictor", {"space": args.space, "held_out": args.held_out,
                                     "targets": results})  # fmt: skip
    print(f"wrote {path}")
    print("| target | " + " | ".join(f"after {s}: within +-10% / Spearman" for s in SIZES)
          + " | FLOPs' Spearman |")  # fmt: skip
    for name, result in results.items():
        cells = [f"{r['within']:.0%} / {r['spearman']:.2f}" for r in result["by_students"].values()]
        print(f"| `{name}` | " + " | ".join(cells) + f" | {result['flops_spearman']:.2f} |")


if __name__ == "__main__":
    main()
