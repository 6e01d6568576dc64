"""The results notebook runs top to bottom on a trained project, through the Kedro catalog."""

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import SMALL_VARIANTS, SmallProject, inside


@pytest.mark.slow
def test_results_notebook_compares_every_variant(trained_project: SmallProject, project_root):
    notebook_path = trained_project.path / "notebooks" / "results.ipynb"
    shutil.copy(project_root / "notebooks" / "results.ipynb", notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)
    with inside(trained_project.path):
        NotebookClient(
            notebook, timeout=300, resources={"metadata": {"path": str(notebook_path.parent)}}
        ).execute()

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output["output_type"] == "error"]
    results = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "execute_result"]
    [table] = [result for result in results if "accuracy" in result]
    assert "validation" in table and "test" in table
    for variant in SMALL_VARIANTS:
        assert variant in table
    # the study's table (the report stage's), shown as HTML, with the published figures
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    [study] = [table for table in html if "published_validation_accuracy" in table]
    assert all(variant in study for variant in SMALL_VARIANTS)
    assert "~78%" in study and "~99%" in study
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "Champion: " in printed
    assert "neither_rejected" in printed and "pets_rejected" in printed  # transfer's detector
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 3  # the comparison chart, the study's curves, the third answer
