"""CK+ builder on a fixture tree in CK+'s real layout (cohn-kanade-images/ + Emotion/ label files)."""

import os

import numpy as np
import pytest
from builder_helpers import SIZE, build, check_folds, corrupt, face_frames, metadata, write_images

from data_pipelines.ckplus import CkPlus
from data_pipelines.common.manual import ManualDirError


def make_tree(root: str, subjects: int = 11, frames: int = 6) -> dict:
    labels = {}
    for i in range(subjects):
        subj, seq = f"S{5 + i:03d}", "001"
        names = [f"{subj}_{seq}_{t + 1:08d}.png" for t in range(frames)]
        write_images(os.path.join(root, "cohn-kanade-images", subj, seq), face_frames(frames, i), names)
        code = 1 + i % 7
        ldir = os.path.join(root, "Emotion", subj, seq)
        os.makedirs(ldir)
        with open(os.path.join(ldir, f"{subj}_{seq}_{frames:08d}_emotion.txt"), "w") as f:
            f.write(f"   {code:.7e}\n")
        labels[f"{subj}_{seq}"] = code - 1
    # an unlabelled sequence (no Emotion file) is not part of the protocol
    write_images(os.path.join(root, "cohn-kanade-images", "S005", "002"), face_frames(3, 99),
                 ["a.png", "b.png", "c.png"])
    return labels


def test_ckplus_builds_labels_subjects_folds(tmp_path, data_dir):
    root = str(tmp_path / "manual")
    labels = make_tree(root)
    # one corrupt frame inside one sequence: that clip is reported and skipped, the rest is built
    corrupt(os.path.join(root, "cohn-kanade-images", "S015", "001", "S015_001_00000003.png"))
    b = build(CkPlus, root, data_dir)
    folds = check_folds(b, 10)
    got = {e["clip_id"]: e for exs in folds.values() for e in exs}
    assert set(got) == set(labels) - {"S015_001"}
    for cid, ex in got.items():
        assert ex["label"] == labels[cid]
        assert ex["subject"] == cid.split("_")[0]
        assert ex["iframes"].shape == (1, SIZE, SIZE, 3)
        assert ex["residuals"].shape == (11, SIZE, SIZE, 3) and ex["residuals"].dtype == np.int16  # [G*P, ...]
        assert ex["motion_vectors"].shape == (1, 11, SIZE // 4, SIZE // 4, 2)
        assert list(ex["frame_types"][0]) == [1] + [2] * 5 + [0] * 6
        assert ex["apex_index"] == 5 and ex["apex_frame"].std() > 0
        assert ex["identity_embedding"].shape == (8,)
        assert abs(np.linalg.norm(ex["identity_embedding"]) - 1) < 1e-5
        assert ex["au_intensity"].shape[0] == 0
    meta = metadata(b)
    assert meta["identity_backbone"] == "fake-mean-colour-8"
    assert [s["path"] for s in meta["skipped"]] == [os.path.join(root, "cohn-kanade-images", "S015", "001")]
    assert "S015_001_00000003.png" in meta["skipped"][0]["error"]
    assert "fake-mean-colour-8" in b.info.description


@pytest.mark.parametrize("kind", ["missing", "empty", "wrong"])
def test_ckplus_bad_manual_dir_points_to_instructions(tmp_path, data_dir, kind):
    root = tmp_path / "manual"
    if kind != "missing":
        root.mkdir()
    if kind == "wrong":
        (root / "cohn-kanade-images").mkdir()
    with pytest.raises(ManualDirError) as err:
        build(CkPlus, str(root), data_dir)
    msg = str(err.value)
    assert "ckplus" in msg and "Download instructions" in msg and "jeffcohn" in msg
    if kind == "wrong":
        assert "Emotion" in msg


def off_centre_face_tree(root: str, frames: int = 6) -> tuple[int, int]:
    """One CK+ sequence whose frames (480x640, 4:3 like CK+) hold scikit-image's astronaut (a real face)
    in the top-left corner, drifting 2 px a frame; returns the face centre (x, y) in the first frame."""
    from skimage import data

    from data_pipelines.faces import FaceDetector

    face = data.astronaut()[40:240, 120:320]  # 200x200 around her face
    det = FaceDetector()(face)[0]
    rng = np.random.default_rng(0)
    canvas = rng.integers(90, 160, size=(480, 640, 3)).astype(np.uint8)
    imgs = []
    for t in range(frames):
        img = canvas.copy()
        img[20 + t:220 + t, 30 + 2 * t:230 + 2 * t] = face
        imgs.append(img)
    seq = os.path.join(root, "cohn-kanade-images", "S099", "001")
    write_images(seq, np.stack(imgs), [f"S099_001_{t + 1:08d}.png" for t in range(frames)])
    os.makedirs(os.path.join(root, "Emotion", "S099", "001"))
    with open(os.path.join(root, "Emotion", "S099", "001", f"S099_001_{frames:08d}_emotion.txt"), "w") as f:
        f.write("   5.0000000e+00\n")
    return round(30 + det.centre[0]), round(20 + det.centre[1])


def test_ckplus_off_centre_face_is_centred_in_the_stored_frames(tmp_path, data_dir):
    from builder_helpers import FakeBackbone

    from data_pipelines.faces import FaceDetector
    from data_pipelines.tf_compat import import_tfds

    tfds = import_tfds()
    root = str(tmp_path / "manual")
    labels = make_tree(root, subjects=9)  # blob "faces" no detector finds: they keep the centre square
    fx, fy = off_centre_face_tree(root)
    b = CkPlus(data_dir=data_dir, config=CkPlus.make_config(size=128, store_frames=True), backbone=FakeBackbone(),
               face_detector="hog")  # the blobs are made for HOG (fer-jax build --detector hog)
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=root))
    (ex,) = [e for k in range(10) for e in tfds.as_numpy(b.as_dataset(split=f"fold{k}"))
             if e["clip_id"] == b"S099_001"]
    faces = metadata(b)["faces"]
    assert set(faces) == set(labels) | {"S099_001"}
    assert all(faces[c]["crop"] == "centre" and faces[c]["face_share"] == 0.0 for c in labels)
    record = faces["S099_001"]
    assert record["crop"] == "face" and record["face_share"] == 1.0 and record["tracks"] == 1
    x0, y0, side = record["square"]
    assert abs(x0 + side / 2 - (fx + 5)) < 12 and abs(y0 + side / 2 - (fy + 2.5)) < 12  # mid-clip face centre
    # the face, detected again in the stored frames, sits at their centre (a centre square would hold no face)
    for frame in ex["frames"]:
        (det,) = FaceDetector()(frame)
        cx, cy = det.centre
        assert abs(cx - 64) < 10 and abs(cy - 64) < 10, (cx, cy)
    assert "Face crop: dlib HOG" in b.info.description and metadata(b)["face_crop"]["detector"] == "hog"
    assert b.info.version == "1.2.0"
