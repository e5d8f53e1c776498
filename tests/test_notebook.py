"""The walkthrough notebook runs from top to bottom on the bundled sample and shows its results."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "walkthrough.ipynb"
SAMPLE_DIR = REPO / "data" / "sample"


def _outputs(nb, output_type=None):
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output_type is None or output.output_type == output_type:
                yield cell, output


@pytest.mark.slow
def test_walkthrough_notebook_runs(tmp_path, monkeypatch):
    import ipykernel  # noqa: F401  (the kernel nbclient starts)
    import matplotlib.image as mpimg
    import nbclient
    import nbformat

    if not any(SAMPLE_DIR.glob("*.csv")):
        pytest.fail(f"the sample recordings are missing from {SAMPLE_DIR}")
    # the kernel inherits these: read the repository's sample, write into the temporary folder
    monkeypatch.setenv("EXERMOTE_SAMPLE_DIR", str(SAMPLE_DIR))
    monkeypatch.setenv("EXERMOTE_WORK_DIR", str(tmp_path / "walkthrough_output"))
    monkeypatch.setenv("EXERMOTE_EPOCHS", "2")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    # "python" in the kernel spec is replaced by this interpreter (jupyter_client does so)
    assert Path(sys.executable).exists()
    client.execute()

    errors = [o for _, o in _outputs(nb, "error")]
    assert not errors, errors
    text = "".join(o.get("text", "") for _, o in _outputs(nb, "stream"))
    assert "same labeled windows for both models" in text
    assert text.count("accuracy per subject: 4:") == 2  # one table per model, test subject 4
    assert "macro F1:" in text

    images = [o["data"]["image/png"] for _, o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # history, generated vs real, confusion matrices
    for encoded in images:
        image = mpimg.imread(io.BytesIO(base64.b64decode(encoded)), format="png")
        assert image.shape[0] > 150 and image.shape[1] > 300

    work = tmp_path / "walkthrough_output"
    assert (work / "windows.h5").is_file()
    for model in ("baseline", "sgan"):
        assert (work / model / "classifier.keras").is_file()
        assert (work / model / "metrics.json").is_file()
    assert not list(REPO.glob("notebooks/walkthrough_output"))  # nothing written into the repo
