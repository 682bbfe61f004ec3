"""No class without a face, for every model: an IFER (still images) and an MI-FER (compressed video) workdir
trained on whole SynthFace frames, given real media through ``fer-jax predict`` with the default settings:
a landscape and a face-less video are ``no_face``, a group photo of five gives one record per face, each
crop framed as a SynthFace frame frames its face (``SYNTHFACE_FRAMING``).

The workdirs train a few steps on in-memory arrays of SynthFace's shapes, and their config then names
``synthface`` as the dataset (the one field serving reads to choose the framing): a real SynthFace build
would cost minutes and change nothing on the serving side. MI-FER reads videos, so the photos reach it as
one-second still videos; IFER reads images, so the face-less video reaches it as one of its frames.
"""

import json
import os
import sys

import av
import numpy as np
import pytest
from PIL import Image

from data_pipelines.common.sources import read_image
from data_pipelines.faces import SYNTHFACE_FRAMING
from data_pipelines.synthface.video_io import encode_video
from fer_jax import cli
from fer_jax.train.trainer import train

METHODS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fer_jax", "methods")
sys.path[:0] = [os.path.join(METHODS, "ifer", "tests"), os.path.join(METHODS, "mi_fer", "tests")]
from ifer_helpers import fer_config  # noqa: E402
from mifer_helpers import serving_config  # noqa: E402

pytestmark = pytest.mark.slow


def as_synthface(workdir: str) -> str:
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["input"]["dataset"] = "synthface"
    with open(path, "w") as f:
        json.dump(config, f)
    return workdir


@pytest.fixture(scope="module")
def mifer_workdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("mifer"))
    train(serving_config(), d)
    return as_synthface(d)


@pytest.fixture(scope="module")
def ifer_workdir(tmp_path_factory):
    c = fer_config("tiny,random,scratch", **{"total_steps": 2, "eval_every": 2, "ckpt_every": 2})
    d = str(tmp_path_factory.mktemp("ifer"))
    train(c, d)
    return as_synthface(d)


@pytest.fixture(scope="module")
def media(feat_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    out = {"landscape.jpg": os.path.join(feat_data, "free-mountain-vector-01.jpg"),
           "group.jpg": os.path.join(feat_data, "multi_face.jpg"), "no_face.mp4": os.path.join(feat_data, "no_face.mp4")}
    for name, w, h in (("landscape", 640, 360), ("group", 640, 426)):
        still = np.asarray(Image.fromarray(read_image(out[f"{name}.jpg"])).resize((w, h), Image.BILINEAR))
        out[f"{name}.mp4"] = str(encode_video(np.repeat(still[None], 25, 0), d / f"{name}.mp4", fps=25.0))
    with av.open(out["no_face.mp4"]) as c:
        frame = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    out["no_face.png"] = str(d / "no_face.png")
    Image.fromarray(frame).save(out["no_face.png"])
    return out


def predict(workdir, tmp_path, *inputs):
    out = tmp_path / "pred.json"
    assert cli.main(["predict", *inputs, "--workdir", workdir, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def check(result, landscape, no_face, group):
    margin, shift = SYNTHFACE_FRAMING["lab"]
    assert result["faces"]["crop_margin"] == margin and result["faces"]["crop_shift"] == shift
    recs = result["predictions"]
    by_input = {p: [r for r in recs if r["input"] == p] for p in (landscape, no_face, group)}
    assert [r["status"] for r in by_input[landscape]] == ["no_face"] and "probabilities" not in by_input[landscape][0]
    assert [r["status"] for r in by_input[no_face]] == ["no_face"]
    faces = by_input[group]
    assert len(faces) == 5 and all(r["status"] == "ok" and "probabilities" in r for r in faces)
    assert sorted(r["track_id"] for r in faces) == [0, 1, 2, 3, 4]
    assert len({tuple(r["face"]["box"]) for r in faces}) == 5


def test_ifer_on_synthface_frames(ifer_workdir, media, tmp_path):
    check(predict(ifer_workdir, tmp_path, media["landscape.jpg"], media["no_face.png"], media["group.jpg"]),
          media["landscape.jpg"], media["no_face.png"], media["group.jpg"])


def test_mifer_on_synthface_frames(mifer_workdir, media, tmp_path):
    check(predict(mifer_workdir, tmp_path, media["landscape.mp4"], media["no_face.mp4"], media["group.mp4"]),
          media["landscape.mp4"], media["no_face.mp4"], media["group.mp4"])
