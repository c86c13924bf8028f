"""`autokd compare` and the run report, checked on runs with known numbers (no HTML parsing),
then both pages drawn in headless Chromium."""

import pytest

from autokd.cli import main
from autokd.errors import AutoKDError
from autokd.records.folder import RunFolder
from autokd.reporting import build_compare, build_run_report
from tests.helpers import chromium, fake_run, render_in_chromium

RUN_A = [(0.90, 1.0, 100.0), (0.95, 2.0, 300.0), (0.80, 3.0, 50.0)]
RUN_B = [(0.85, 0.5, 200.0), (0.97, 4.0, 400.0)]


@pytest.fixture
def two_runs(tmp_path):
    return (
        RunFolder(fake_run(tmp_path / "a", RUN_A, sampler="tpe")),
        RunFolder(fake_run(tmp_path / "b", RUN_B, sampler="random")),
    )


def test_hypervolumes_share_one_reference_point_computed_by_hand(two_runs):
    data = build_compare(list(two_runs))
    # A tenth of each range beyond the worst accuracy (0.80) and latency (4.0) of both runs.
    ref_accuracy, ref_latency = 0.80 - 0.1 * (0.97 - 0.80), 4.0 + 0.1 * (4.0 - 0.5)
    assert data.reference == pytest.approx((ref_accuracy, ref_latency))
    a, b = data.runs
    assert a.fronts["latency_ms"] == [0, 1]  # trial 2 is slower and worse than trial 0
    assert a.hypervolume == pytest.approx(
        (0.90 - ref_accuracy) * (ref_latency - 1.0) + (0.95 - 0.90) * (ref_latency - 2.0)
    )
    # Run b's most accurate trial is also its slowest: the margin lets it count.
    assert b.hypervolume == pytest.approx(
        (0.85 - ref_accuracy) * (ref_latency - 0.5) + (0.97 - 0.85) * (ref_latency - 4.0)
    )
    assert b.fronts["flops"] == [0, 1]


def test_the_differences_table_marks_what_differs(two_runs):
    differences = {
        setting: (values, differ)
        for setting, values, differ in build_compare(list(two_runs)).differences
    }
    assert differences["sampler"] == (["tpe", "random"], True)
    assert differences["budget"] == (["3", "2"], True)
    assert differences["teacher"][1] is False and differences["data"][1] is False


def test_latencies_from_other_targets_are_refused_unless_allowed(tmp_path):
    runs = [
        RunFolder(fake_run(tmp_path / "a", RUN_A)),
        RunFolder(fake_run(tmp_path / "b", RUN_B, target="cpu", threads=2)),
    ]
    with pytest.raises(AutoKDError, match="different targets or machines \\(threads: a=1, b=2\\)"):
        build_compare(runs)
    data = build_compare(runs, allow_mixed_targets=True)
    assert data.mixed_targets
    assert "2 thread(s)" in data.runs[1].measured_on
    other_machine = RunFolder(fake_run(tmp_path / "c", RUN_B, cpu="Another CPU"))
    with pytest.raises(AutoKDError, match="cpu: a=Test CPU, c=Another CPU.*--allow-mixed-targets"):
        build_compare([runs[0], other_machine])


def test_compare_needs_two_distinct_runs(two_runs, capsys, tmp_path):
    with pytest.raises(AutoKDError, match="at least two runs"):
        build_compare([two_runs[0]])
    assert main(["compare", str(two_runs[0].path), "-o", str(tmp_path / "x.html")]) == 2
    assert "at least two runs" in capsys.readouterr().err


def test_run_report_data_counts_fronts_importances_and_export_commands(tmp_path):
    points = [(0.5 + 0.04 * i, 0.1 * (i + 1), 100.0 * ((i * 7) % 10 + 1)) for i in range(12)]
    folder = RunFolder(fake_run(tmp_path / "r", points))
    data = build_run_report(folder)
    assert data.counts == {"complete": 12}
    assert data.fronts[0].front == list(range(12))  # accuracy rises with latency: all on it
    assert data.hypervolume_reference == pytest.approx((0.5 - 0.1 * 0.44, 1.2 + 0.1 * 1.1))
    assert sorted(step.number for step in data.hypervolume) == list(range(12))
    assert all(step.minutes is not None for step in data.hypervolume)
    volumes = [step.volume for step in data.hypervolume]
    assert volumes == sorted(volumes)  # a front only grows
    assert set(data.importances["accuracy"]) == {"stages", "lr", "alpha"}
    assert set(data.importances["latency_ms"]) == {"stages"}  # the architecture's only
    assert sum(data.importances["accuracy"].values()) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_run_and_compare_reports_draw_in_a_real_browser(two_runs, tmp_path):
    from pathlib import Path

    from tests.helpers import screenshot

    a, b = two_runs
    run_page, compare_page = tmp_path / "run.html", tmp_path / "compare.html"
    assert main(["report", str(a.path), "-o", str(run_page)]) == 0
    assert main(["compare", str(a.path), str(b.path), "-o", str(compare_page)]) == 0
    for path, plots in ((run_page, 3), (compare_page, 2)):
        dom, errors = render_in_chromium(path, tmp_path / f"profile-{path.stem}")
        assert errors == []
        assert dom.count('class="main-svg"') >= plots  # plotly drew every plot as SVG
        shot = screenshot(
            path,
            Path("reports/test-screenshots") / f"{path.stem}.png",
            tmp_path / f"shot-{path.stem}",
        )
        assert shot.stat().st_size > 10_000


def test_runs_without_complete_trials_still_compare(tmp_path):
    import optuna

    empty = RunFolder(fake_run(tmp_path / "empty", [(0.5, 1.0, 10.0)]))
    study = optuna.load_study(study_name=empty.study_name, storage=empty.storage_url)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    data = build_compare([RunFolder(fake_run(tmp_path / "a", RUN_A)), empty])
    assert data.reference is not None and all(r.hypervolume >= 0 for r in data.runs)
    assert data.runs[0].hypervolume > 0


# A front of 12 students, accuracy rising with latency; trial 4 was timed while contended
FRONT = [(0.5 + 0.05 * i - 0.002 * i * i, 0.1 * (i + 1), 100.0 * (i + 1)) for i in range(12)]
PLANTED = {4: {"latency_contended": True, "latency_noisy": True, "latency_blocks": 30}}


def test_the_run_report_names_the_knee_and_counts_the_contended_front_latency(tmp_path):
    from autokd.study.picks import pick_row

    folder = RunFolder(fake_run(tmp_path / "busy", FRONT, trial_attrs=PLANTED))
    data = build_run_report(folder)
    assert data.front_doubts == {"contended": 1}
    picks = {p.name: p.number for p in data.picks}
    assert picks == {
        name: int(pick_row(data.pareto, name)["number"])  # what `autokd export --pick` takes
        for name in ("knee", "best-accuracy", "fastest")
    }
    assert picks["fastest"] == 0 and picks["best-accuracy"] == 11
    page = tmp_path / "busy.html"
    assert main(["report", str(folder.path), "-o", str(page)]) == 0
    html = page.read_text()
    assert f"knee: trial {picks['knee']}" in html and "What to pick" in html
    assert "1 of 12 front latencies are doubtful" in html and "1 contended" in html
    assert f"autokd remeasure {folder.path}" in html
    assert "--pick knee -o students/busy-knee" in html  # the export command of the knee


def test_the_accuracy_axis_covers_the_students_and_keeps_a_near_teacher():
    import pandas as pd

    from autokd.reporting.run_page import accuracy_range

    students = pd.DataFrame({"accuracy": [0.96, 1.0]})
    assert accuracy_range(students, 1.0) == pytest.approx((0.956, 1.004))
    assert accuracy_range(students, 0.99) == pytest.approx((0.956, 1.004))
    assert accuracy_range(students, 0.2) == pytest.approx((0.956, 1.004))  # named at the edge
    low, high = accuracy_range(students, 0.93)  # within one students' span: drawn
    assert low < 0.93 < high


def test_compare_places_its_reference_point_from_trusted_latencies_only(tmp_path):
    quiet = RunFolder(fake_run(tmp_path / "quiet", RUN_A))
    outlier = {1: {"latency_contended": True, "latency_noisy": True}}  # 5.58 ms beside ~1 ms
    busy = RunFolder(fake_run(tmp_path / "busy", [(0.9, 1.1, 90.0), (0.6, 5.58, 80.0)],
                              trial_attrs=outlier))  # fmt: skip
    data = build_compare([quiet, busy])
    assert data.left_out == 1
    latencies = [1.0, 2.0, 3.0, 1.1]  # the trusted ones: the outlier does not stretch the range
    assert data.reference[1] == pytest.approx(max(latencies) + 0.1 * (3.0 - 1.0))
    page = tmp_path / "compare.html"
    assert main(["compare", str(quiet.path), str(busy.path), "-o", str(page)]) == 0
    assert "1 doubtful latencies" in page.read_text()


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize("width", [1280, 1920])
def test_both_pages_fit_without_clipping_or_scrollbars(tmp_path, width):
    from tests.helpers import layout_findings

    busy = RunFolder(fake_run(tmp_path / "busy", FRONT, trial_attrs=PLANTED))
    other = RunFolder(fake_run(tmp_path / "other", RUN_B))
    pages = tmp_path / "run.html", tmp_path / "compare.html"
    assert main(["report", str(busy.path), "-o", str(pages[0])]) == 0
    assert main(["compare", str(busy.path), str(other.path), "-o", str(pages[1])]) == 0
    for page, plots in zip(pages, (4, 2), strict=True):
        found = layout_findings(page, tmp_path / f"profile-{page.stem}", width)
        assert found["plots"] == plots
        assert found["clipped"] == [] and found["overflowing"] == []


def test_a_teacher_behind_its_students_is_noted_in_the_report(tmp_path):
    import json

    folder = RunFolder(fake_run(tmp_path / "weak", RUN_A))  # best student 0.95
    summary = json.loads(folder.summary_json.read_text())
    summary["teacher"]["accuracy"] = 0.58
    folder.summary_json.write_text(json.dumps(summary))
    note = build_run_report(folder).teacher_note
    assert note and "0.5800" in note and "below its best student (0.9500)" in note
    assert build_run_report(RunFolder(fake_run(tmp_path / "fine", RUN_A))).teacher_note is None


def test_one_student_timed_at_100x_its_peers_does_not_stretch_the_latency_axis():
    import pandas as pd

    from autokd.reporting.run_page import latency_axis_end

    peers = pd.DataFrame({"latency_ms": [0.3 + 0.05 * i for i in range(19)] + [190.0]})
    front = peers.iloc[:5]
    end = latency_axis_end(peers, front)
    assert end == pytest.approx(1.15 * peers["latency_ms"].quantile(0.9))
    assert latency_axis_end(peers.iloc[:19], front) is None  # every student fits: no zoom
