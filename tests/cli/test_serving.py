"""``fer-jax predict`` / ``export`` for methods other than MI-FER: a still-image classifier (input group
``image``) and a frames regressor (``frames``, named values; and an embedding), trained a few steps by
the shared trainer. Records must equal the in-framework predictor on independently prepared inputs;
the exported StableHLO must equal ``make_predict_fn`` (tolerance 1e-5). Plus the error paths."""

import json
import os
import shutil
import sys

import av
import ml_collections
import numpy as np
import pytest
from PIL import Image

from data_pipelines import sampling
from data_pipelines.synthface.video_io import encode_video
from fer_jax import cli
from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.core.workdir import save_config
from fer_jax.serving.jax_export import load_exported
from fer_jax.serving.predictor import make_predict_fn, restore
from fer_jax.train.trainer import train

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # serving_toys is named by "module:Class" in the configs
    sys.path.insert(0, HERE)

S, T, CLASSES, AUS = 8, 2, ("cat", "dog", "owl"), ("AU1", "AU12")
TOL = 1e-5  # exported vs live; JSON records are rounded to 6 decimals, so 2e-6 there


def _config(method: str, **input_kw) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(dict(
        method=method, seed=0, total_steps=3, log_every=1, eval_every=0, ckpt_every=3, keep_ckpts=1,
        best_metric="", async_checkpoints=False, prefetch=0, tensorboard=False, progress_bar=False,
        num_classes=len(CLASSES), class_names=CLASSES, target_names=AUS))
    c.input = ml_collections.ConfigDict(dict(size=S, batch_size=4, split_val="", **input_kw))
    return c


@pytest.fixture(scope="module")
def image_workdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("image_run"))
    rng = np.random.default_rng(0)
    arrays = {"image": rng.uniform(size=(8, S, S, 3)).astype(np.float32),
              "label": rng.integers(0, 3, 8).astype(np.int32)}
    train(_config("serving_toys:ToyImageClassifier"), d, train_iter=ArrayIterator(arrays, 4))
    return d


@pytest.fixture(scope="module")
def frames_workdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("frames_run"))
    rng = np.random.default_rng(1)
    arrays = {"frames": rng.uniform(size=(8, T, S, S, 3)).astype(np.float32),
              "au": rng.uniform(0, 5, size=(8, 2)).astype(np.float32)}
    train(_config("serving_toys:ToyFramesRegressor", frames=T), d, train_iter=ArrayIterator(arrays, 4))
    return d


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """30 frames of 32x24 (not square: the preparation crops the centre square), MPEG-4 at 25 fps."""
    rng = np.random.default_rng(2)
    frames = (rng.uniform(size=(30, 24, 32, 3)) * 255).astype(np.uint8)
    frames[:, 8:16] = np.linspace(0, 255, 30, dtype=np.uint8)[:, None, None, None]  # something that moves
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    encode_video(frames, path, fps=25.0)
    return str(path)


def _square(rgb: np.ndarray) -> np.ndarray:
    """Centre square, bilinear resize to S, /255: written out here to check the library's preparation."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    crop = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return np.asarray(Image.fromarray(crop).resize((S, S), Image.BILINEAR)).astype(np.float32) / 255


def _live(workdir: str, inputs: dict) -> np.ndarray:
    """The in-framework predictor, no jit, no serving code: ``method.serve(method.predictor(state), x)``."""
    r = restore(workdir)
    return np.asarray(r.method.serve(r.method.predictor(r.state), inputs))


def _predict(tmp_path, workdir, *inputs) -> tuple[int, dict]:
    out = tmp_path / "pred.json"
    # --faces off: toys trained on random arrays, fed whole synthetic files (face tracking is on by default)
    status = cli.main(["predict", *map(str, inputs), "--workdir", workdir, "--out", str(out), "--faces", "off"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []
    return status, json.loads(out.read_text())


def test_predict_image_classifier_equals_the_live_predictor(image_workdir, tmp_path):
    rng = np.random.default_rng(3)
    colour = (rng.uniform(size=(10, 20, 3)) * 255).astype(np.uint8)
    grey = (rng.uniform(size=(16, 12)) * 255).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "a.png")
    Image.fromarray(grey, mode="L").save(tmp_path / "b.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing
    status, result = _predict(tmp_path, image_workdir, tmp_path / "a.png", tmp_path / "b.png", tmp_path / "bad.png")
    assert status == 1 and result["input_group"] == "image" and result["output"] == "probabilities"
    *ok, bad = result["predictions"]
    assert bad["status"] == "failed" and "bad.png" in bad["error"] and "cannot decode image" in bad["error"]
    want = _live(image_workdir, {"image": np.stack([_square(colour), _square(np.stack([grey] * 3, -1))])})
    for rec, p in zip(ok, want):
        assert rec["status"] == "ok" and list(rec["probabilities"]) == list(CLASSES)
        np.testing.assert_allclose(list(rec["probabilities"].values()), p, atol=2e-6)
        assert rec["prediction"] == CLASSES[int(np.argmax(p))] and "timeline" not in rec
    assert not np.allclose(want[0], want[1])  # the two images are told apart


def test_export_image_classifier_equals_the_live_predictor(image_workdir, tmp_path):
    out = tmp_path / "img.jaxexport"
    assert cli.main(["export", "--workdir", image_workdir, "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "img.jaxexport.json").read_text())
    assert sidecar["inputs"] == [{"name": "image", "shape": ["b", S, S, 3], "dtype": "float32"}]
    assert sidecar["input_group"] == "image" and sidecar["preprocessing"] == {"size": S}
    assert sidecar["output"] == {"kind": "probabilities", "shape": ["b", 3], "names": list(CLASSES)}
    assert sidecar["step"] == 3 and sidecar["checkpoint"] == "latest"
    fn, live = load_exported(str(out)), make_predict_fn(restore(image_workdir))
    for batch in (1, 5):  # symbolic batch
        x = np.random.default_rng(batch).uniform(size=(batch, S, S, 3)).astype(np.float32)
        want = live({"image": x})
        np.testing.assert_allclose(fn(image=x), want, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(fn(x), want, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(want, _live(image_workdir, {"image": x}), rtol=TOL, atol=TOL)
    with pytest.raises(TypeError, match="image"):
        fn(frames=x)


def _decoded(path: str) -> np.ndarray:
    with av.open(path) as c:
        return np.stack([_square(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)])


def test_predict_frames_regressor_values_and_timeline(frames_workdir, video, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video" * 50)
    status, result = _predict(tmp_path, frames_workdir, video, bad, tmp_path / "missing.mp4")
    assert status == 1
    ok, broken, missing = result["predictions"]
    assert broken["status"] == missing["status"] == "failed"
    assert "broken.mp4" in broken["error"] and "missing.mp4" in missing["error"]
    assert ok["status"] == "ok" and ok["frames"] == 30 and list(ok["values"]) == list(AUS)
    frames = _decoded(video)
    windows = [frames[s:s + 6] for s in range(0, 30, 6)]  # the spec's window: 6 frames
    pick = {n: sampling.frame_positions(n, T, 1, train=False).numpy() for n in (30, 6)}  # the data path's
    x = np.stack([frames[pick[30]]] + [w[pick[6]] for w in windows])
    want = _live(frames_workdir, {"frames": x})
    np.testing.assert_allclose(list(ok["values"].values()), want[0], atol=2e-6)
    assert [e["window"] for e in ok["timeline"]] == [0, 1, 2, 3, 4]
    assert ok["timeline"][1]["start_s"] == pytest.approx(0.24) and ok["timeline"][-1]["end_s"] == pytest.approx(1.2)
    for entry, w in zip(ok["timeline"], want[1:]):
        np.testing.assert_allclose(list(entry["values"].values()), w, atol=2e-6)


def test_export_frames_regressor_values(frames_workdir, tmp_path):
    out = tmp_path / "au.jaxexport"
    assert cli.main(["export", "--workdir", frames_workdir, "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "au.jaxexport.json").read_text())
    assert sidecar["inputs"] == [{"name": "frames", "shape": ["b", T, S, S, 3], "dtype": "float32"}]
    assert sidecar["output"] == {"kind": "values", "shape": ["b", 2], "names": list(AUS)}
    assert sidecar["preprocessing"] == {"size": S, "frames": T, "window": 6}
    x = np.random.default_rng(0).uniform(size=(3, T, S, S, 3)).astype(np.float32)
    want = make_predict_fn(restore(frames_workdir))({"frames": x})
    np.testing.assert_allclose(load_exported(str(out))(frames=x), want, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(want, _live(frames_workdir, {"frames": x}), rtol=TOL, atol=TOL)


def _variant(workdir: str, dest, **changes) -> str:
    """A copy of ``workdir`` (same checkpoint) whose config.json has ``changes`` applied."""
    shutil.copytree(workdir, dest)
    cfg = json.loads((dest / "config.json").read_text())
    for key, value in changes.items():
        node, *path = key.split(".")
        (cfg.setdefault(node, {}) if path else cfg)[path[0] if path else node] = value
    (dest / "config.json").write_text(json.dumps(cfg))
    return str(dest)


def test_predict_embedding_output(frames_workdir, video, tmp_path):
    wd = _variant(frames_workdir, tmp_path / "emb", **{"toy.output": "embedding"})
    status, result = _predict(tmp_path, wd, video)
    (rec,) = result["predictions"]
    assert status == 0 and result["output"] == "embedding" and "values" not in rec
    assert len(rec["embedding"]) == 8 and np.linalg.norm(rec["embedding"]) == pytest.approx(1.0, abs=1e-5)


def test_export_without_checkpoint_leaves_no_file(tmp_path, capsys):
    wd = tmp_path / "untrained"
    wd.mkdir()
    save_config(_config("serving_toys:ToyImageClassifier"), str(wd))
    out = tmp_path / "out" / "m.jaxexport"
    assert cli.main(["export", "--workdir", str(wd), "--out", str(out)]) == 2
    assert "no latest checkpoint" in capsys.readouterr().err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert cli.main(["predict", "x.png", "--workdir", str(wd)]) == 2


def test_export_of_a_method_without_serving_spec_is_refused(image_workdir, tmp_path, capsys):
    wd = _variant(image_workdir, tmp_path / "noserve", method="serving_toys:NoServing")
    assert cli.main(["export", "--workdir", wd, "--out", str(tmp_path / "m.jaxexport")]) == 2
    assert "cannot be served" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noserve"]


def test_export_to_an_unwritable_path_leaves_no_file(image_workdir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert cli.main(["export", "--workdir", image_workdir, "--out", str(blocker / "m.jaxexport")]) == 1
    assert "cannot write" in capsys.readouterr().err and blocker.read_text() == "not a folder"
    folder = tmp_path / "is_a_folder"
    folder.mkdir()
    assert cli.main(["export", "--workdir", image_workdir, "--out", str(folder)]) == 1
    taken = tmp_path / "m.jaxexport.json"  # the sidecar's name is a folder: the artifact, renamed first, goes again
    taken.mkdir()
    assert cli.main(["export", "--workdir", image_workdir, "--out", str(tmp_path / "m.jaxexport")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "is_a_folder", "m.jaxexport.json"]
    assert list(folder.iterdir()) == [] and list(taken.iterdir()) == []


def test_serving_modules_import_without_pyav_pillow_or_tensorflow():
    import subprocess

    code = ("import sys\nfor m in ('av', 'PIL', 'tensorflow'): sys.modules[m] = None\n"
            "import fer_jax.serving.predictor, fer_jax.commands.predict, fer_jax.commands.export, fer_jax.serving.prepare, "
            "fer_jax.serving.predict, fer_jax.serving.jax_export")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(HERE)))
