"""Every tutorial runs top to bottom in a fresh kernel of this interpreter.

The kernel is described by a kernelspec written to a temporary folder and
pointing at ``sys.executable``, so the notebooks run in the environment that
runs the tests (a virtual environment in CI) whatever kernels are installed.
Each notebook checks its own numbers against closed forms in assert cells: a
failing assert fails the test.
"""

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))

KERNEL_NAME = "bifurc-tests"

# Seconds allowed per cell: a tutorial takes well under two minutes in all.
CELL_TIMEOUT = 120

PROBE = "import sys\nprint(sys.executable)"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A folder holding a kernelspec that starts this interpreter."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL_NAME
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "bifurc tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return folder


def _execute(path, kernel_dir, workdir):
    """Run the notebook at `path` in `workdir`; return the executed notebook."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def test_there_are_six_tutorials():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"0{k}_" for k in range(1, 7)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_runs_in_a_fresh_kernel(path, kernel_dir, tmp_path):
    notebook = _execute(path, kernel_dir, tmp_path)

    probe = notebook.cells[0].outputs[0]["text"].strip()
    assert Path(probe) == Path(sys.executable)
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "error"
    ]
    assert not errors
