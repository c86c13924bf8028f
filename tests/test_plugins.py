"""A third student family and a new loss term, defined in this file alone, searched end to end.

This is the proof that a family or a term plugs in without touching autokd: everything below uses
only the public registries (`register_family`, `register_term`) and the staged-space helpers.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autokd import students
from autokd.cli import main
from autokd.distill import terms
from autokd.records.params import Rule
from autokd.students.staged import (
    StagedConfig,
    check_staged,
    parse_staged,
    staged_declarations,
)
from tests.helpers import autokd, tiny_search

# ---- the family: stages of (average pool, 1x1 convolution, ReLU) ----------------------------

RULES = {"width": Rule(int, 1, 256, per_stage=True)}


@dataclass(frozen=True)
class PoolStage:
    width: int
    stride: int


@dataclass(frozen=True)
class PoolConfig(StagedConfig):
    NAME = "pool"
    STAGE = PoolStage

    family: str
    in_channels: int
    num_classes: int
    input_size: int
    stem_width: int
    stages: tuple[PoolStage, ...]

    def describe(self) -> str:
        return " | ".join([str(self.stem_width), *(f"{s.width} s{s.stride}" for s in self.stages)])


class PoolStudent(nn.Module):
    def __init__(self, config: PoolConfig) -> None:
        super().__init__()
        self.stem = nn.Conv2d(config.in_channels, config.stem_width, 3, padding=1)
        widths = [config.stem_width, *(s.width for s in config.stages)]
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AvgPool2d(s.stride), nn.Conv2d(cin, s.width, 1), nn.ReLU())
            for cin, s in zip(widths, config.stages, strict=False)
        )
        self.head = nn.Linear(widths[-1], config.num_classes)
        self.feature_channels = widths[1:]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, features = self.stem(x), []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.head(x.mean(dim=(2, 3))), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


POOL = students.StudentFamily(
    name="pool",
    description="average pooling and 1x1 convolutions (a test family)",
    legend="stem width | per stage: width, stride",
    from_dict=PoolConfig.from_dict,
    parse_space=lambda path, body: parse_staged(path, body, RULES),
    sample=PoolConfig.sample,
    declarations=lambda space: staged_declarations(space, RULES),
    build=PoolStudent,
    check=lambda config, where: check_staged(config, RULES, where),
)

# ---- the term: one minus the cosine similarity of the softened probabilities ----------------


def cosine_loss(student, teacher, labels, temperature, *, sharpness=1.0):
    p_student = F.softmax(student / temperature, dim=1) ** sharpness
    p_teacher = F.softmax(teacher / temperature, dim=1) ** sharpness
    return (1 - F.cosine_similarity(p_student, p_teacher, dim=1)).mean()


COSINE = terms.LogitTerm(
    "cosine",
    "one minus the cosine similarity of the probabilities (a test term)",
    cosine_loss,
    settings=(terms.Setting("sharpness", 0.5, 2.0, 1.0),),
)

SPACE = """\
family: pool
student:
  stages: {low: 1, high: 2}
  stem_width: 8
  width: {choices: [8, 16]}
distill:
  logit_loss: {choices: [cosine]}
  feature_loss: {choices: [none, at]}
  temperature: 2.0
  alpha: 0.7
  feature_weight: 1.0
train:
  lr: 0.01
"""


@pytest.fixture
def plugged():
    """The family and the term registered for one test, and gone afterwards."""
    students.register_family(POOL)
    terms.register_term(COSINE)
    yield
    students.registry.FAMILIES.remove("pool")
    terms.TERMS[terms.LOGITS].remove("cosine")


def test_the_new_term_matches_its_definition():
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    p = torch.softmax(torch.tensor([0.5, 0.0]), 0)
    expected = 1 - 2 * p[0] * p[1] / (p[0] ** 2 + p[1] ** 2)
    assert cosine_loss(student, teacher, None, 2.0).item() == pytest.approx(expected.item())


@pytest.mark.slow
def test_a_family_and_a_term_from_one_file_search_export_and_train(plugged, tmp_path):
    space = tmp_path / "pool.yaml"
    space.write_text(SPACE)
    # (three epochs: a pooling student after one may still sit at chance, which is "diverged")
    args = [*tiny_search(tmp_path, "plugged", 4), "--space", str(space), "--epochs", "3"]
    assert main(args) == 0
    run = tmp_path / "runs" / "plugged"
    with (run / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["state"] == "COMPLETE" for r in rows)
    assert all(r["architecture"].startswith("8 |") for r in rows)
    assert {r["cosine_sharpness"] != "" for r in rows} == {True}  # sampled: the term is chosen
    assert {r["feature_loss"] for r in rows} <= {"none", "at"}
    bundle = tmp_path / "bundle"
    assert main(["export", str(run), "--pick", "knee", "-o", str(bundle)]) == 0
    assert "logit_loss: cosine" in (bundle / "student.yaml").read_text()
    assert main(["train", str(bundle), "--epochs", "1", "--quiet", "-o", str(tmp_path / "t")]) == 0


PLUGIN_MODULE = """
import torch.nn.functional as F
from autokd.distill import terms

def l1_probabilities(student, teacher, labels, temperature):
    gap = F.softmax(student / temperature, 1) - F.softmax(teacher / temperature, 1)
    return gap.abs().sum(1).mean()

terms.register_term(terms.LogitTerm("l1prob", "L1 between probabilities", l1_probabilities))
"""


@pytest.mark.slow
def test_a_plugin_module_named_in_the_environment_reaches_the_search(tmp_path):
    (tmp_path / "my_terms.py").write_text(PLUGIN_MODULE)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.replace("family: pool", "family: cnn").replace(
        "  width: {choices: [8, 16]}", "  width: 8\n  depth: 1\n  kernel: 3\n  dilation: 1"
    ).replace("[cosine]", "[l1prob]"))  # fmt: skip
    env = {"AUTOKD_PLUGINS": "my_terms", "PYTHONPATH": str(tmp_path)}
    done = autokd(*tiny_search(tmp_path, "env", 2), "--space", str(space), env=env)
    assert done.returncode == 0, done.stderr
    with (tmp_path / "runs" / "env" / "trials.csv").open() as f:
        assert {r["state"] for r in csv.DictReader(f)} == {"COMPLETE"}
    missing = autokd("targets", env={"AUTOKD_PLUGINS": "no_such_module"})
    assert missing.returncode == 2
    assert "names module 'no_such_module', which cannot be imported" in missing.stderr
