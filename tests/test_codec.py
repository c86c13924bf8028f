"""Records as types: summary.json and the bundle description read into dataclasses and back,
every key's type checked, unknown keys kept where the record has room for them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from autokd.records.codec import RecordError, from_mapping, plain, to_mapping
from autokd.records.folder import RunFolder
from autokd.records.summary import DataIdentity, RunSummary, TeacherRecord

LEGACY_RUN = Path(__file__).parent / "data" / "run-before-plugins"


@dataclass(frozen=True)
class Inner:
    size: int
    ratio: float = 1.0


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    layers: tuple[Inner, ...] = ()
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def test_a_mapping_becomes_nested_records_and_back():
    mapping = {
        "name": "a",
        "inner": {"size": 3},
        "layers": [{"size": 1, "ratio": 0.5}, {"size": 2, "ratio": 2}],
        "newer_key": [1, 2],
    }
    record = from_mapping(Outer, mapping)
    assert record == Outer(
        "a", Inner(3), (Inner(1, 0.5), Inner(2, 2.0)), extra={"newer_key": [1, 2]}
    )
    assert isinstance(record.layers[1].ratio, float)  # JSON's 2 for a float field
    assert to_mapping(record) == {
        "name": "a",
        "inner": {"size": 3, "ratio": 1.0},
        "layers": [{"size": 1, "ratio": 0.5}, {"size": 2, "ratio": 2.0}],
        "note": None,
        "newer_key": [1, 2],
    }


@pytest.mark.parametrize(
    ("mapping", "key", "problem"),
    [
        ({"inner": {"size": 3}}, "name", "lacks key"),
        ({"name": "a", "inner": {}}, "inner.size", "lacks key"),
        ({"name": "a", "inner": {"size": "3"}}, "inner.size", "expected int"),
        ({"name": "a", "inner": {"size": True}}, "inner.size", "expected int"),  # no bool
        ({"name": "a", "inner": {"size": 1}, "layers": [{"size": 1.5}]}, "layers[0].size", "int"),
        ({"name": "a", "inner": {"size": 1}, "layers": {"size": 1}}, "layers", "expected a list"),
        ({"name": "a", "inner": [1]}, "inner", "expected a mapping"),
        ({"name": 7, "inner": {"size": 1}}, "name", "expected str"),
    ],
)
def test_a_wrong_shape_names_the_key(mapping, key, problem):
    with pytest.raises(RecordError) as caught:
        from_mapping(Outer, mapping)
    assert caught.value.key == key and problem in caught.value.problem


def test_plain_turns_tuples_into_lists_all_the_way_down():
    assert plain({"a": (1, (2, 3)), "b": Inner(1)}) == {
        "a": [1, [2, 3]],
        "b": {"size": 1, "ratio": 1.0},
    }


def test_a_summary_written_before_the_types_reads_and_writes_back_unchanged():
    raw = json.loads((LEGACY_RUN / "summary.json").read_text())
    summary = RunSummary.from_dict(raw)
    assert summary.teacher == TeacherRecord(
        "test_resnet", raw["teacher"]["accuracy"], "c605b63264d915b9", source="trained",
        seconds=4.74, checkpoint=raw["teacher"]["checkpoint"], params=373370, epochs=1,
    )  # fmt: skip
    assert summary.data.data_dir == "/tmp/legacy-cache/data" and summary.training is not None
    written = summary.to_dict()
    added = {key: written.pop(key) for key in set(written) - set(raw)}  # fields since: defaults
    assert added == {"pruner": "none", "stopped": 0, "epochs_saved": 0, "latency_prediction": None}
    assert written["teacher"].pop("members") == []
    assert written["target"].pop("calibration_images") == 0  # a float32 target calibrates none
    assert written["target"].pop("performance_hint") is None  # nor takes a runtime's hint
    assert written["target"].pop("options") is None  # nor has a backend's own keys (remote)
    assert (written["data"].pop("mean"), written["data"].pop("std")) == ([], [])  # not recorded
    assert written["data"].pop("class_names") == []  # nor these
    assert written["data"].pop("augment_policy") is None  # before policies: the data set's own
    assert written == raw  # every key it had, values unchanged


def test_an_ensemble_teacher_keeps_its_members():
    member = {"name": "t1", "accuracy": 0.9, "weights_digest": "d1"}
    teacher = from_mapping(
        TeacherRecord,
        {"name": "t1,t2", "accuracy": 0.95, "weights_digest": "e", "members": [member]},
    )
    assert teacher.members[0].name == "t1" and to_mapping(teacher)["members"][0]["name"] == "t1"


def test_the_run_folder_gives_typed_identities(tmp_path):
    identity = RunFolder(LEGACY_RUN).data_identity()
    assert identity == DataIdentity(
        "digits", 0, 16, "a4c6a1a6a7259156", data_dir="/tmp/legacy-cache/data"
    )
    assert DataIdentity.from_dict(identity.to_dict()) == identity


def test_a_run_written_before_runs_named_their_study_keeps_its_study_name(tmp_path):
    assert RunFolder(LEGACY_RUN).study_name == "autokd"  # the one study its study.db holds
    assert RunFolder(tmp_path / "fresh").study_name == "fresh"  # a new run: its own name
