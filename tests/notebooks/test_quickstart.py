"""notebooks/quickstart.ipynb executed top to bottom (nbclient, this interpreter's kernel) so it cannot rot;
and the committed notebook is what notebooks/make_quickstart.py writes, with no outputs."""

import os
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat/nbclient/ipykernel (`test` extra)")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(REPO, "notebooks", "quickstart.ipynb")


def test_committed_notebook_is_the_generated_one_without_outputs():
    sys.path.insert(0, os.path.join(REPO, "notebooks"))
    try:
        import make_quickstart
    finally:
        sys.path.pop(0)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in make_quickstart.build().cells]
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert code and all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKSTART_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    print(f"quickstart.ipynb executed in {time.perf_counter() - t0:.0f} s")
    bundle = tmp_path / "work" / "bundle_onnx"
    assert sorted(os.listdir(bundle)) == ["README.md", "config.json", "load_example.py", "model.onnx", "spec.json"]
    assert (tmp_path / "work" / "audit.png").stat().st_size > 0
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "test WAR" in text and "fer-jax train --config=configs/mi_fer/demo.py:" in text
