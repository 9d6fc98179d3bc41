"""The example notebook runs top to bottom in a fresh kernel and shows its sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "analysis" / "notebooks" / "sweep_example.ipynb"


def test_sweep_example_notebook_executes() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not any(o.get("output_type") == "error" for o in c.outputs) for c in code)
    first = code[0].outputs[-1]["data"]["text/html"]
    assert first.count("<tr") == 13  # the header and 12 runs (3 x 2 points, 2 replications)
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # heatmap, pricing curves, tornado
