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
