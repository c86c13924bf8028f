"""examples/quickstart.ipynb runs top to bottom, with a tiny budget put in its parameters cell."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"

TINY = """\
from pathlib import Path

BUDGET = 2
EPOCHS = 1
TEACHER = "test_resnet"
TEACHER_EPOCHS = 1
FULL_EPOCHS = 1
WORKERS = 1
WORK = Path("quickstart")
"""


@pytest.mark.slow
def test_the_quickstart_notebook_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    names = {line.split("=")[0].strip() for line in TINY.splitlines() if " = " in line}
    assert names == {
        line.split("=")[0].strip() for line in parameters.source.splitlines() if " = " in line
    }  # the test sets every parameter
    parameters.source = TINY
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(str(o.get("data", {})) + o.get("text", "") for o in outputs)
    assert "accuracy" in shown and "latency_ms" in shown  # the front as a table
    assert "application/vnd.plotly.v1+json" in shown  # the figure, inline
    assert "predicted:" in shown and "hypervolume" in shown
    assert (tmp_path / "quickstart" / "students" / "knee" / "student.onnx").is_file()
    assert (tmp_path / "quickstart" / "reports" / "compare.html").is_file()
