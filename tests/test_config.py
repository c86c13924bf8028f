import re
from pathlib import Path

import optuna
import pytest

from autokd.errors import ConfigError, UnknownNameError
from autokd.measure.targets import load_target
from autokd.records.params import Choices, Fixed, FloatRange, IntRange
from autokd.records.yamlfiles import shipped_names
from autokd.study.space import load_space, param_declarations, sample_candidate

GOOD_SPACE = """
family: cnn
student:
  stages: {low: 1, high: 3}
  stem_width: 8
  depth: {low: 1, high: 2}
  width: {choices: [8, 16]}
  kernel: {choices: [3, 5]}
  dilation: 1
distill:
  temperature: {low: 1.0, high: 4.0}
  alpha: {low: 0.0, high: 1.0}
  feature_weight: [0.0, {choices: [0.0, 1.0]}, 2]
train:
  lr: {low: 0.001, high: 0.01, log: true}
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_shipped_space_and_target_loads():
    assert "cnn" in shipped_names("search_spaces")
    assert {"cpu", "cpu-1t", "onnxruntime", "cuda"} <= set(shipped_names("hardware"))
    for name in shipped_names("search_spaces"):
        assert load_space(name).max_stages >= 1
    for name in shipped_names("hardware"):
        assert load_target(name).min_run_time > 0


def test_a_space_file_parses_into_ranges_choices_and_per_stage_values(tmp_path):
    space = load_space(write(tmp_path, GOOD_SPACE))
    assert space.student.stages == IntRange(1, 3)
    assert space.student.stage("width") == (Choices((8, 16)),) * 3
    assert space.lr == FloatRange(0.001, 0.01, log=True)
    assert [type(p).__name__ for p in space.distill.feature_weight] == ["Fixed", "Choices", "Fixed"]
    assert space.student.strides == (Fixed(1), Fixed(2), Fixed(2))
    assert space.name == "space" and space.digest


def test_a_stride_is_fixed_or_sampled_per_stage(tmp_path, digits):
    sampled = "  dilation: 1\n  strides: [{choices: [1, 2]}, 2, 2]\n"
    text = GOOD_SPACE.replace("  dilation: 1\n", sampled)
    space = load_space(write(tmp_path, text))
    assert space.student.strides == (Choices((1, 2)), Fixed(2), Fixed(2))
    declared = param_declarations(space)
    assert "s1_stride" in declared and "s2_stride" not in declared  # a fixed stride: no column
    firsts = set()
    for first in (1, 2):
        params = {"stages": 2, "s1_stride": first, "s1_depth": 1, "s2_depth": 1, "s1_width": 8,
                  "s2_width": 8, "s1_kernel": 3, "s2_kernel": 3, "s2_feature_weight": 0.0,
                  "temperature": 2.0, "alpha": 0.5, "lr": 0.005}  # fmt: skip
        student = sample_candidate(optuna.trial.FixedTrial(params), space, digits).student
        firsts.add(tuple(stage.stride for stage in student.stages))
    assert firsts == {(1, 2), (2, 2)}


@pytest.mark.parametrize(
    ("strides", "message"),
    [
        ("[1, 2]", "key 'student.strides' must list, for each of the 3 possible stages, 1, 2 or"),
        ("[1, 3, 2]", "key 'student.strides[1]' must be an integer in [1, 2], got 3"),
        ("[1, {choices: [1, 4]}, 2]", "key 'student.strides[1].choices' must be an integer in"),
    ],
)
def test_a_bad_stride_is_named(tmp_path, strides, message):
    text = GOOD_SPACE.replace("  dilation: 1\n", f"  dilation: 1\n  strides: {strides}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_space(write(tmp_path, text))


def test_a_path_works_where_a_name_does(tmp_path):
    path = write(tmp_path, GOOD_SPACE, "mine.yaml")
    assert load_space(str(path)).name == "mine"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  width: {choices: [8, 16]}", "  widht: {choices: [8, 16]}"),
            "unknown key 'student.widht' (did you mean 'student.width'?)",
        ),
        (("  dilation: 1", "  dilation: one"), "key 'student.dilation' must be an integer"),
        (
            ("  kernel: {choices: [3, 5]}", "  kernel: {choices: [3, 4]}"),
            "key 'student.kernel.choices' must be an odd integer",
        ),
        (
            ("  alpha: {low: 0.0, high: 1.0}", "  alpha: {low: 0.0, high: 1.5}"),
            "key 'distill.alpha.high' must be a number in [0, 1], got 1.5",
        ),
        (
            ("  depth: {low: 1, high: 2}", "  depth: {low: 3, high: 2}"),
            "key 'student.depth' needs low <= high",
        ),
        (
            ("  feature_weight: [0.0, {choices: [0.0, 1.0]}, 2]", "  feature_weight: [0.0, 1.0]"),
            "key 'distill.feature_weight' lists 2 per-stage values but up to 3 stages",
        ),
        (
            (
                "  lr: {low: 0.001, high: 0.01, log: true}",
                "  lr: {low: 0.0, high: 0.01, log: true}",
            ),
            "key 'train.lr.low' must be a number in [1e-06, 10]",
        ),
        (("  stem_width: 8", "  stem_width: [8, 16]"), "key 'student.stem_width' must be a number"),
        (("train:", "trian:"), "unknown key 'trian' (did you mean 'train'?)"),
        (("  stem_width: 8\n", ""), "key 'student.stem_width' is missing"),
        (
            ("  width: {choices: [8, 16]}", "  width: {choices: [8, 16], low: 1}"),
            "unknown key 'student.width.low'",
        ),
    ],
)
def test_space_errors_name_the_file_and_the_key(tmp_path, change, message):
    old, new = change
    assert old in GOOD_SPACE
    path = write(tmp_path, GOOD_SPACE.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_space(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_space(path)


def test_malformed_yaml_says_where(tmp_path):
    path = write(tmp_path, "student: {stages: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d"):
        load_space(path)


def test_unknown_names_list_the_valid_ones_and_the_closest():
    with pytest.raises(UnknownNameError) as caught:
        load_space("cnm")
    assert "did you mean 'cnn'" in str(caught.value)
    with pytest.raises(UnknownNameError, match="did you mean 'cpu'.*valid: cpu, cpu-1t"):
        load_target("cpux")


def test_an_unknown_key_with_a_newline_is_still_one_line(tmp_path):
    """Found by tests/test_fuzz.py: a key ending in a newline printed it, on two lines."""
    target = write(tmp_path, 'backend: torch\n"threads\\n": 2\n', "t.yaml")
    with pytest.raises(ConfigError) as caught:
        load_target(str(target))
    assert "unknown key 'threads\\n'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="target file '.*nothere.yaml' does not exist"):
        load_target(str(tmp_path / "nothere.yaml"))


def test_target_fields_are_validated(tmp_path):
    good = load_target(write(tmp_path, "backend: torch\nthreads: 2\nmin_run_time: 0.2\n", "t.yaml"))
    assert good.threads == 2 and good.batch_size == 1 and good.input_size is None
    assert load_target("cpu").threads is None  # "all" physical cores
    for text, message in [
        ("backend: tflite\n", "unknown backend 'tflite'"),
        ("backend: [torch]\n", "unknown backend '['torch']'"),
        ("threads: 0\n", "key 'threads' must be 'all' or an integer in [1, 1024], got 0"),
        ("min_run_time: 0\n", "key 'min_run_time' must be seconds"),
        ("batch: 2\n", "unknown key 'batch' (did you mean 'batch_size'?)"),
        (
            "backend: onnxruntime\ndevice: cuda\n",
            "key 'device': backend 'onnxruntime' runs on cpu, not 'cuda'",
        ),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_target(write(tmp_path, text, "bad.yaml"))
