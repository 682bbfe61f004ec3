"""``fer-jax export --format stablehlo|onnx|safetensors --out BUNDLE/`` for every registered method with a
tiny config (tests/train/tiny_methods.py): each bundle's model equals the in-framework predictor
(``TOL``), its ``load_example.py`` runs in a virtualenv where ``import fer_jax`` fails, and every error
(no checkpoint, unknown format, unwritable or taken output, a failure mid-write) leaves nothing behind."""

import json
import os
import subprocess
import sys
import sysconfig

import ml_collections
import numpy as np
import pytest

from fer_jax import cli
from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.core.registry import METHODS
from fer_jax.core.workdir import save_config
from fer_jax.serving import export_bundle
from fer_jax.serving.predictor import make_predict_fn, restore
from fer_jax.train.trainer import train

HERE = os.path.dirname(os.path.abspath(__file__))
for d in (HERE, os.path.join(os.path.dirname(HERE), "train")):  # serving_toys, tiny_methods
    if d not in sys.path:
        sys.path.insert(0, d)
import tiny_methods  # noqa: E402

pytest.importorskip("onnxruntime", reason="the `export` extra is not installed")
pytest.importorskip("jax2onnx", reason="the `export` extra is not installed")
FORMATS = ("stablehlo", "onnx", "safetensors")
TOL = 1e-5  # measured: <= 2.4e-7 (StableHLO and ONNX), 0 (safetensors) on these models
S = 8


# -- a virtualenv with the dependencies but without fer-jax ----------------------------------------------

@pytest.fixture(scope="session")
def clean_python(tmp_path_factory) -> str:
    """A venv whose site-packages links every entry of this one's except fer-jax (editable finder or
    installed package) and its sibling packages; no pip install, so it takes a second."""
    root = tmp_path_factory.mktemp("clean_venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    deps = root / "deps"
    deps.mkdir()
    ours = ("fer_jax", "fer-jax", "__editable__", "data_pipelines", "configs")
    for site in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for name in os.listdir(site):
            if not name.startswith(ours) and not name.endswith(".pth") and not (deps / name).exists():
                os.symlink(os.path.join(site, name), deps / name)
    python = str(root / "venv" / "bin" / "python")
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True, env=_clean_env())
    with open(os.path.join(out.stdout.strip(), "deps.pth"), "w") as f:
        f.write(str(deps) + "\n")
    probe = subprocess.run([python, "-c", "import fer_jax"], capture_output=True, text=True, env=_clean_env(),
                           cwd=str(root))
    assert probe.returncode != 0 and "No module named 'fer_jax'" in probe.stderr
    subprocess.run([python, "-c", "import numpy, jax, onnxruntime, safetensors"], check=True, env=_clean_env(),
                   cwd=str(root))
    return python


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _run_example(python: str, bundle: str, inputs: dict, tmp_path) -> np.ndarray:
    np.savez(tmp_path / "x.npz", **inputs)
    done = subprocess.run([python, "load_example.py", "--inputs", str(tmp_path / "x.npz"), "--out",
                           str(tmp_path / "y.npy")], cwd=bundle, capture_output=True, text=True, env=_clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp_path / "y.npy")


# -- workdirs --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(METHODS))
def method_workdir(request, tmp_path_factory):
    """Each registered method's tiny config (random data), untrained: ``total_steps = 0`` saves the initial
    state as checkpoint 0 without compiling a train step. That the bundle holds the checkpoint's weights,
    not a new initialisation, the toy workdirs (trained) show."""
    if reason := tiny_methods.missing_reason(request.param):
        pytest.skip(reason)
    wd = str(tmp_path_factory.mktemp(request.param) / "wd")
    train(tiny_methods.config(request.param, steps=0), wd)
    return request.param, wd


@pytest.fixture(scope="module")
def toy_workdir(tmp_path_factory):
    """The still-image toy classifier of test_serving (cheap: for the error paths)."""
    wd = str(tmp_path_factory.mktemp("toy") / "wd")
    rng = np.random.default_rng(0)
    arrays = {"image": rng.uniform(size=(8, S, S, 3)).astype(np.float32),
              "label": rng.integers(0, 3, 8).astype(np.int32)}
    train(_toy_config(), wd, train_iter=ArrayIterator(arrays, 4))
    return wd


def _toy_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(dict(
        method="serving_toys:ToyImageClassifier", seed=0, total_steps=2, log_every=1, eval_every=0, ckpt_every=2,
        keep_ckpts=1, best_metric="", async_checkpoints=False, prefetch=0, tensorboard=False, progress_bar=False,
        num_classes=3, class_names=("cat", "dog", "owl")))
    c.input = ml_collections.ConfigDict(dict(size=S, batch_size=4, split_val=""))
    return c


def _inputs(spec: dict, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i["name"]: rng.normal(size=[batch, *i["shape"][1:]]).astype(i["dtype"]) for i in spec["inputs"]}


def _export(workdir: str, out, fmt: str) -> int:
    return cli.main(["export", "--workdir", workdir, "--format", fmt, "--out", str(out)])


# -- parity ----------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_bundle_equals_the_predictor_and_runs_without_fer_jax(method_workdir, fmt, clean_python, tmp_path):
    method, wd = method_workdir
    bundle = tmp_path / "bundle"
    restored = restore(wd)
    try:
        restored.method.serving_spec(restored.run)
    except NotImplementedError:  # e.g. the StyleGAN2 trainer: nothing to serve; export says so
        assert _export(wd, bundle, fmt) == 2 and not bundle.exists()
        return
    assert _export(wd, bundle, fmt) == 0
    files = {"config.json", "spec.json", "README.md", "load_example.py", export_bundle.MODEL_FILE[fmt]}
    assert set(os.listdir(bundle)) == files and [p for p in os.listdir(tmp_path) if p.startswith(".")] == []
    spec = json.loads((bundle / "spec.json").read_text())
    assert spec["method"] == method and spec["format"] == fmt and spec["check"]["max_abs_diff"] <= TOL
    assert json.loads((bundle / "config.json").read_text())["method"] == method
    card = (bundle / "README.md").read_text()
    assert method in card and "## Evaluation" in card and f"{spec['check']['max_abs_diff']:.2g}" in card
    r = restore(wd)
    live = make_predict_fn(r)
    loaded = export_bundle.load_bundle(str(bundle))
    for batch in (1, 3):  # the batch dimension is symbolic
        x = _inputs(spec, batch, seed=batch)
        want = live(x)
        assert want.shape == (batch, *spec["output"]["shape"][1:])
        np.testing.assert_allclose(loaded(**x), want, rtol=TOL, atol=TOL)
        unjitted = np.asarray(r.method.serve(r.method.predictor(r.state), x))
        np.testing.assert_allclose(want, unjitted, rtol=TOL, atol=TOL)
    if fmt == "safetensors":  # without fer-jax: the parameters are plain arrays, the graph needs fer-jax
        done = subprocess.run([clean_python, "load_example.py"], cwd=bundle, capture_output=True, text=True,
                              env=_clean_env())
        assert done.returncode == 0 and "fer-jax is not installed" in done.stdout, done.stderr[-2000:]
    else:
        x = _inputs(spec, 2, seed=7)
        np.testing.assert_allclose(_run_example(clean_python, str(bundle), x, tmp_path), live(x), rtol=TOL, atol=TOL)


# -- model card ------------------------------------------------------------------------------------------

def test_model_card_has_evaluations_audit_and_command(toy_workdir, tmp_path):
    import shutil

    wd = tmp_path / "wd"
    shutil.copytree(toy_workdir, wd)
    (wd / "eval_2.json").write_text(json.dumps({"split": "val", "step": 2, "war": 0.625, "uar": 0.5,
                                                "confusion": [[1]]}))
    (wd / "eval_val_1.json").write_text(json.dumps({"split": "val", "step": 1, "war": 0.125}))
    (wd / "test_report.json").write_text(json.dumps({"war": 0.4, "identity_audit": {
        "n_identities": 24, "chance": 0.042, "linear_acc": 0.107, "mlp_acc": 0.104}}))
    (wd / "command.txt").write_text("fer-jax train --config=configs/x.py:tiny --workdir=runs/x\n")
    meta = tmp_path / "tfds" / "toyset" / "size8_dlib" / "1.0.0" / "metadata.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"protocol": "Official 5 folds, subject-independent."}))
    config = json.loads((wd / "config.json").read_text())
    config["input"].update(dataset="toyset", data_dir=str(tmp_path / "tfds"))
    (wd / "config.json").write_text(json.dumps(config))
    assert _export(str(wd), tmp_path / "b", "safetensors") == 0
    card = (tmp_path / "b" / "README.md").read_text()
    assert "| val (`eval_2.json`) | 2 | war | 0.6250 |" in card and "0.1250" not in card  # the latest eval only
    assert "confusion" not in card and "| test_report.json: identity_audit | 24 | 0.0420 | 0.1070 | 0.1040 |" in card
    assert "fer-jax train --config=configs/x.py:tiny --workdir=runs/x" in card
    assert "- protocol: Official 5 folds, subject-independent." in card and "dataset: `toyset`" in card
    assert "cat, dog, owl" in card and "| `image` | b × 8 × 8 × 3 | float32 |" in card


# -- errors leave nothing behind -------------------------------------------------------------------------

def _listing(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_the_bundle_holds_the_checkpoint_not_a_new_initialisation(toy_workdir, tmp_path):
    # what lets the per-method parity tests export untrained (step 0) workdirs: a bundle made from a
    # trained workdir holds the trained weights, which differ from the config seed's initial ones
    from flax import nnx
    from safetensors.numpy import load_file

    assert _export(toy_workdir, tmp_path / "b", "safetensors") == 0
    saved = load_file(str(tmp_path / "b" / export_bundle.MODEL_FILE["safetensors"]))
    restored = restore(toy_workdir)
    m = restored.method
    trained = export_bundle._flat(nnx.state(m.predictor(restored.state)))
    fresh = export_bundle._flat(nnx.state(m.predictor(m.create(restored.run, nnx.Rngs(restored.run.train.seed)))))
    assert set(saved) == set(trained) == set(fresh) and saved
    for k in saved:
        np.testing.assert_array_equal(saved[k], np.asarray(trained[k]), err_msg=k)
    assert any(not np.array_equal(saved[k], np.asarray(fresh[k])) for k in saved)


def test_unknown_format_is_a_usage_error(toy_workdir, tmp_path, capsys):
    assert _export(toy_workdir, tmp_path / "out" / "b", "tflite") == 2
    err = capsys.readouterr().err
    assert "unknown format 'tflite'" in err and "stablehlo, onnx, safetensors" in err
    assert _listing(tmp_path) == []
    with pytest.raises(export_bundle.ExportError, match="stablehlo, onnx, safetensors"):
        export_bundle.export_bundle(toy_workdir, str(tmp_path / "b"), "pt")


def test_workdir_without_checkpoint_is_refused(tmp_path, capsys):
    wd = tmp_path / "untrained"
    wd.mkdir()
    save_config(_toy_config(), str(wd))
    assert _export(str(wd), tmp_path / "out" / "b", "onnx") == 2
    assert "no latest checkpoint" in capsys.readouterr().err
    assert _listing(tmp_path) == ["untrained", "untrained/config.json"]
    assert _export(str(tmp_path / "nowhere"), tmp_path / "b", "onnx") == 2  # not a workdir at all


@pytest.mark.parametrize("fmt", ["stablehlo", "safetensors"])
def test_unwritable_or_taken_output_leaves_nothing(toy_workdir, tmp_path, capsys, fmt):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert _export(toy_workdir, blocker / "sub" / "b", fmt) == 1  # a parent is a file
    assert "cannot write" in capsys.readouterr().err
    assert _export(toy_workdir, blocker, fmt) == 1  # the bundle's name is a file
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("a collaborator's file")
    assert _export(toy_workdir, taken, fmt) == 1  # a non-empty folder is never overwritten
    assert "it exists" in capsys.readouterr().err
    assert _listing(tmp_path) == ["a_file", "taken", "taken/mine.txt"] and blocker.read_text() == "not a folder"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _export(toy_workdir, empty, fmt) == 0 and (empty / "spec.json").is_file()  # an empty folder is used


def test_failure_while_writing_removes_the_partial_bundle(toy_workdir, tmp_path, monkeypatch, capsys):
    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_bundle.os, "rename", refuse)
    assert _export(toy_workdir, tmp_path / "new" / "deeper" / "b", "safetensors") == 1
    assert "No space left on device" in capsys.readouterr().err
    assert _listing(tmp_path) == []  # the temporary folder and the parents it made are gone
