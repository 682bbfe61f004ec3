"""`fer-jax predict` on real encoded video files with a trained workdir: residual-only inference."""

import json
import os
import sys

import numpy as np
import pytest

from configs.mi_fer import synthface as synthface_config
from data_pipelines import sampling
from data_pipelines.synthface import render_clip
from data_pipelines.synthface.video_io import encode_video
from fer_jax import cli
from fer_jax.serving.predictor import clip_inputs
from fer_jax.train.trainer import train

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fer_jax", "methods", "mi_fer",
                                "tests"))
from mifer_helpers import serving_config  # noqa: E402


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A few steps of the tiny MI-FER config (16 px, 2 segments) on in-memory arrays."""
    d = tmp_path_factory.mktemp("run")
    train(serving_config(), str(d))
    return d


def test_evaluation_segments_are_segment_centres():
    def centres(n, k):  # the data path's evaluation TSN positions (serving's: tests/cli/test_serving_sampling.py)
        return sampling.tsn_positions(n, k, train=False).numpy().tolist()

    assert centres(11, 1) == [5]
    assert centres(22, 2) == [5, 16]
    assert centres(1, 3) == [0, 0, 0]  # fewer frames than segments: repeat


def test_clip_inputs_skip_padding_and_scale():
    ft = np.array([[1] + [2] * 3, [1, 2, 0, 0]], np.uint8)  # 2 GOPs of 4, the last short
    res = np.arange(2 * 3 * 4 * 4 * 3, dtype=np.int16).reshape(2, 3, 4, 4, 3)
    mv = np.zeros((2, 3, 1, 1, 2), np.float16)
    out = clip_inputs(ft, res, mv, k=2)
    flat = res.reshape(6, 4, 4, 3)
    valid = [0, 1, 2, 3]  # GOP 1's P-slots 1 and 2 are padding
    want = [flat[valid[i]] for i in sampling.tsn_positions(4, 2, train=False).numpy()]  # the data path's
    np.testing.assert_allclose(out["residuals"], np.stack(want) / 255.0)
    assert out["residuals"].dtype == np.float32 and out["motion_vectors"].shape == (2, 1, 1, 2)


@pytest.mark.slow
def test_predict_writes_probabilities_and_gop_timeline(workdir, tmp_path, capsys):
    frames, _ = render_clip(0, "happiness", regime="lab", n_frames=30, size=48, seed=1)
    good = tmp_path / "face.mp4"
    encode_video(frames, good, fps=25.0)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video" * 50)
    out = tmp_path / "pred.json"
    status = cli.main(["predict", str(good), str(bad), "--workdir", str(workdir), "--out", str(out),
                       "--faces", "off"])  # the whole-file path (face tracking is on by default)
    assert status == 1  # one of the two inputs failed
    result = json.loads(out.read_text())
    ok, failed = result["predictions"]
    assert ok["status"] == "ok" and failed["status"] == "failed"
    assert "broken.mp4" in failed["error"]
    names = list(synthface_config.EXPRESSIONS)
    assert list(ok["probabilities"]) == names and ok["prediction"] in names
    assert sum(ok["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert ok["gops"] == 3 and len(ok["timeline"]) == 3  # 30 frames, GOP 12
    assert ok["timeline"][0]["start_s"] == 0.0 and ok["timeline"][-1]["end_s"] == pytest.approx(30 / 25.0)
    for entry in ok["timeline"]:
        assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # the record equals the in-framework predictor on the clip extracted as in training
    from data_pipelines.compressed import extract_file
    from fer_jax.serving.predictor import restore

    clip = extract_file(good, size=16, gop=12)
    r = restore(str(workdir))
    x = clip_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, 2)
    want = np.asarray(r.method.serve(r.method.predictor(r.state), {k: v[None] for k, v in x.items()}))[0]
    np.testing.assert_allclose(list(ok["probabilities"].values()), want, atol=2e-6)


def test_predict_usage_error_without_workdir_config(tmp_path):
    assert cli.main(["predict", "x.mp4", "--workdir", str(tmp_path)]) == 2


@pytest.mark.slow
def test_export_round_trip_matches_the_live_predictor(workdir, tmp_path):
    from fer_jax.serving.jax_export import load_exported
    from fer_jax.serving.predictor import make_predict_fn, restore

    out = tmp_path / "model.jaxexport"
    assert cli.main(["export", "--workdir", str(workdir), "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "model.jaxexport.json").read_text())
    assert sidecar["input_group"] == "compressed" and sidecar["method"] == "mi_fer"
    assert sidecar["preprocessing"]["size"] == 16 and sidecar["preprocessing"]["segments"] == 2
    names = list(synthface_config.EXPRESSIONS)
    assert sidecar["output"] == {"kind": "probabilities", "shape": ["b", 7], "names": names}
    # the tiny config trains without motion vectors: the artifact takes residuals only (the spec's inputs)
    assert [i["name"] for i in sidecar["inputs"]] == ["residuals"]
    assert sidecar["inputs"][0]["shape"] == ["b", 2, 16, 16, 3]
    rng = np.random.default_rng(0)
    live = make_predict_fn(restore(str(workdir)))
    for batch in (1, 3):  # the batch dimension is symbolic
        inputs = {"residuals": rng.normal(size=(batch, 2, 16, 16, 3)).astype(np.float32),
                  "motion_vectors": rng.normal(size=(batch, 2, 4, 4, 2)).astype(np.float32)}
        want = live(inputs)  # extra keys are ignored: only the spec's inputs reach the model
        np.testing.assert_allclose(load_exported(str(out))(residuals=inputs["residuals"]), want, rtol=1e-5, atol=1e-6)
