"""Does a weight mean the same whichever term is chosen?

On the default data with the default teacher (resnet18, cached or trained once), a default-space
student (3 stages): each term's raw value, and what the engine adds to the loss after its
calibration against the reference term of its kind (KD, FitNets) on the first batches
(`autokd/distill/objective.py`), at alpha 1 / feature weight 1 on every stage, T = 4: on a fresh
student (the calibration batches themselves), and on the same student after 2 epochs on the labels
(the calibration factor kept from the start, as in a training run).
Writes benchmarks/results/term_scales.json and prints Markdown for the README.
Usage: python benchmarks/term_scales.py
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from common import ROOT, save_result

sys.path.insert(0, str(ROOT))
from autokd.data import load_data  # noqa: E402
from autokd.distill.config import KDConfig, TrainConfig  # noqa: E402
from autokd.distill.engine import fit  # noqa: E402
from autokd.distill.objective import CALIBRATION_BATCHES, DistillationLoss  # noqa: E402
from autokd.students import build_student  # noqa: E402
from autokd.students.cnn import StageConfig, StudentConfig  # noqa: E402
from autokd.teachers import prepare_teacher  # noqa: E402
from autokd.teachers.outputs import teacher_outputs  # noqa: E402

TEMPERATURE, BATCH = 4.0, 64
CONFIGS = {
    "kd (reference)": dict(logit_loss="kd"),
    "dkd": dict(logit_loss="dkd"),
    "dist": dict(logit_loss="dist"),
    "kd standardized": dict(logit_loss="kd", standardize=True),
    "fitnets (reference)": dict(feature_loss="fitnets"),
    "at": dict(feature_loss="at"),
    "rkd": dict(feature_loss="rkd"),
}


def batches(data, start: int):
    for b in range(start, start + CALIBRATION_BATCHES):
        index = torch.arange(b * BATCH, (b + 1) * BATCH)
        yield index, data.train_x[index], data.train_y[index]


def added(objective: DistillationLoss, student, data, outputs, start: int) -> float:
    """Mean of what the objective adds to the cross-entropy over CALIBRATION_BATCHES batches."""
    values = []
    for index, x, y in batches(data, start):
        with torch.no_grad():
            logits, features = student.forward_with_features(x)
            teacher = [outputs.features[level][index] for level in objective.levels]
            loss = objective(logits, y, outputs.logits[index], features=features,
                             teacher_features=teacher)  # fmt: skip
            if objective.kd.alpha == 0.0:
                loss = loss - F.cross_entropy(logits, y)
        values.append(float(loss))
    return sum(values) / len(values)


def main() -> None:
    torch.set_num_threads(1)
    data = load_data("digits", seed=0)
    teacher = prepare_teacher("resnet18", data, epochs=20, seed=0)
    outputs, _ = teacher_outputs(teacher, data)
    config = StudentConfig("cnn", data.channels, data.classes, data.input_size, 16,
                           (StageConfig(1, 16, 3, 1, 1), StageConfig(2, 32, 3, 1, 2),
                            StageConfig(1, 48, 3, 1, 2)))  # fmt: skip
    torch.manual_seed(0)
    student = build_student(config).eval()
    objectives, rows = {}, {}
    for name, terms in CONFIGS.items():
        alpha = 1.0 if "logit_loss" in terms else 0.0
        kd = KDConfig(TEMPERATURE, alpha, (1.0, 1.0, 1.0), **{"feature_loss": "none", **terms})
        torch.manual_seed(0)  # the same fresh adapters for every feature term's reference
        objectives[name] = DistillationLoss(kd, student.feature_channels, outputs.feature_shapes)
        rows[name] = {"init": added(objectives[name], student, data, outputs, 0)}
        calibration = objectives[name].logit_calibration or objectives[name].feature_calibration
        rows[name]["factor"] = calibration.factor if calibration else 1.0
    fit(student, data, TrainConfig(epochs=2, lr=0.01))
    student.eval()
    for name, objective in objectives.items():
        objective.eval()  # calibration closed: the factor from the start stays
        rows[name]["after 2 epochs"] = added(objective, student, data, outputs, 0)
    save_result("term_scales", {"temperature": TEMPERATURE, "batches": CALIBRATION_BATCHES,
                                "rows": rows})  # fmt: skip
    print("| term | calibration factor | added to the loss, fresh student | after 2 epochs |")
    print("| --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['factor']:.3g} | {row['init']:.3g} | {row['after 2 epochs']:.3g} |")


if __name__ == "__main__":
    main()
