"""IFER end to end at test size: a RAF-DB tree in the official layout is built by the RAF-DB builder, the
FER stage trains on it through tf.data and ``fer-jax eval`` evaluates the workdir; ``fer-jax predict`` serves
that workdir on image files with faces found by the shared face module (a detector stand-in: dlib is not a
test dependency here), a face-less image giving ``no_face``; ``fer-jax invert`` writes input | reconstruction
for an inversion workdir."""

import json
import os
import sys

import numpy as np
import pytest
from ifer_helpers import REPO, SIZE, fer_config, inversion_config
from PIL import Image

from fer_jax import cli
from fer_jax.train.trainer import train

sys.path.insert(0, os.path.join(REPO, "tests", "data"))  # builder fixtures live in tests/data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fer_workdir(tmp_path_factory):
    import input_fixtures as fx  # noqa: E402  (the RAF-DB layout writer of the builder tests)

    root = tmp_path_factory.mktemp("raf")
    data = str(root / "tfds")
    fx.build_stills(data, str(root / "manual"), per_split={"train": 8, "test": 4})
    c = fer_config("tiny,scratch", **{"input.data_dir": data, "input.size": fx.SIZE, "decoder.size": fx.SIZE,
                                      "total_steps": 2, "eval_every": 2, "ckpt_every": 2})
    c.input.update(split_val="test", shuffle_buffer=16)
    out = train(c, str(root / "work"))
    assert out["step"] == 2 and np.isfinite(out["train"]["loss/ce"])
    assert out["val"]["val/num_examples"] == 4 and 0 <= out["val"]["val/war"] <= 1
    return str(root / "work")


def test_rafdb_build_train_eval(fer_workdir):
    assert cli.main(["eval", f"--workdir={fer_workdir}", "--split=test", "--checkpoint=latest"]) == 0
    with open(os.path.join(fer_workdir, "eval_test_latest.json")) as f:
        report = json.load(f)
    assert report["num_examples"] == 4 and set(report["per_class_recall"]) == set(fer_config().class_names)
    assert 0 <= report["war"] <= 1 and report["step"] == 2


class OneFace:
    """Stands in for dlib's detector: one face box where the image is not uniform, none otherwise."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, image):
        from data_pipelines.faces.detect import Detection

        if np.ptp(image) == 0:
            return []
        h, w = image.shape[:2]
        return [Detection(w * 0.2, h * 0.2, w * 0.8, h * 0.8, 1.0)]


def test_predict_images_with_faces_and_no_face(fer_workdir, tmp_path, monkeypatch):
    import data_pipelines.faces.detect

    monkeypatch.setattr(data_pipelines.faces.detect, "FaceDetector", OneFace)  # what make_detector builds for hog
    rng = np.random.default_rng(0)
    face, blank = tmp_path / "face.png", tmp_path / "blank.png"
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(face)
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(blank)
    out = tmp_path / "pred.json"
    assert cli.main(["predict", str(face), str(blank), "--workdir", fer_workdir, "--faces", "on",
                     "--detector", "hog", "--out", str(out)]) == 0
    ok, none = json.loads(out.read_text())["predictions"]
    assert ok["status"] == "ok" and ok["track_id"] == 0 and ok["prediction"] in ok["probabilities"]
    assert sum(ok["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert none["status"] == "no_face" and "probabilities" not in none

    # The probabilities are the restored classifier's on the face crop, computed here directly. The stand-in
    # box of the 64x80 image is x 16..64, y 12.8..51.2: centre (40, 32), side 48; x 1.3 margin: a 62 px
    # square at (9, 1), inside the image, resized to the model's 32 px (bilinear) and fed in [-1, 1].
    import jax

    from fer_jax.core.workdir import restore

    image = np.asarray(Image.open(face))
    x = np.asarray(Image.fromarray(image[1:63, 9:71]).resize((32, 32), Image.BILINEAR), np.float32) / 255.0
    r = restore(fer_workdir, "best")
    net = r.method.predictor(r.state)
    want = np.asarray(jax.nn.softmax(net(x[None] * 2.0 - 1.0), axis=-1))[0]
    names = list(r.config.class_names)
    assert list(ok["probabilities"]) == names
    np.testing.assert_allclose([ok["probabilities"][n] for n in names], want, atol=2e-4)
    assert ok["prediction"] == names[int(np.argmax(want))]


def test_invert_writes_input_and_reconstruction(tmp_path):
    c = inversion_config(**{"total_steps": 1, "ckpt_every": 1, "eval_every": 0, "best_metric": ""})
    c.input.random.update(num_train=8, num_val=4)
    train(c, str(tmp_path / "inv"))
    img = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(img)
    out = tmp_path / "recon.png"
    assert cli.main(["invert", str(img), "--workdir", str(tmp_path / "inv"), "--out", str(out), "--scale", "2",
                     "--faces", "off"]) == 0
    got = np.asarray(Image.open(out))
    assert got.shape == (SIZE * 2, 2 * SIZE * 2, 3)
    # left: the input's centre square (48 x 40 -> columns 4..44), resized to the decoder's size; right: the
    # restored model's own reconstruction of it (encoder, then the decoder), computed here directly
    from fer_jax.core.workdir import restore
    from fer_jax.methods.ifer.method import reconstruct

    x = np.asarray(Image.fromarray(np.asarray(Image.open(img))[:, 4:44]).resize((SIZE, SIZE), Image.BILINEAR),
                   np.float32) / 255.0
    state = restore(str(tmp_path / "inv"), "best").state
    recon = (np.asarray(reconstruct(state, state.encoder, x[None] * 2.0 - 1.0)[0])[0] + 1.0) / 2.0
    to_png = lambda a: (np.clip(a, 0, 1) * 255).round().astype(int).repeat(2, 0).repeat(2, 1)  # noqa: E731
    np.testing.assert_array_equal(got[:, :SIZE * 2], to_png(x))
    assert np.abs(got[:, SIZE * 2:].astype(int) - to_png(recon)).max() <= 1  # rounding of a jitted vs eager run
    assert np.abs(to_png(recon) - to_png(x)).mean() > 1  # a reconstruction, not a copy of the input
    assert cli.main(["invert", str(img), "--workdir", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    # faces on (the default): the noise image holds no face, the astronaut's face is found and cropped
    from skimage import data

    astronaut = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(astronaut)
    assert cli.main(["invert", str(img), "--workdir", str(tmp_path / "inv"), "--out", str(out)]) == 1
    assert cli.main(["invert", str(astronaut), "--workdir", str(tmp_path / "inv"), "--out", str(out),
                     "--scale", "1"]) == 0
    from data_pipelines.faces import FaceSettings, face_crop

    (d,) = FaceSettings().make_detector()(data.astronaut())
    want = face_crop(data.astronaut(), np.array([*d.centre, d.side]), SIZE, 1.3)  # a random-data run: margin 1.3
    np.testing.assert_array_equal(np.asarray(Image.open(out))[:, :SIZE], want)
