"""RAF-DB, SFEW and AffectNet builders: still images in their official layouts and label files."""

import numpy as np
from builder_helpers import SIZE, build, corrupt, face_frames, metadata, read_split, write_images

from data_pipelines.affectnet import AffectNet
from data_pipelines.rafdb import RafDb
from data_pipelines.sfew import Sfew


def test_rafdb(tmp_path, data_dir):
    root = tmp_path / "manual"
    lines, expected = [], {}
    for split, n in (("train", 5), ("test", 3)):
        for i in range(1, n + 1):
            stem = f"{split}_{i:05d}"
            write_images(str(root / "basic" / "Image" / "aligned"), face_frames(1, i), [f"{stem}_aligned.jpg"])
            code = 1 + (i + len(split)) % 7
            lines.append(f"{stem}.jpg {code}\n")
            expected[(split, stem)] = code - 1
    (root / "basic" / "EmoLabel").mkdir(parents=True)
    (root / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("".join(lines))
    corrupt(str(root / "basic" / "Image" / "aligned" / "train_00002_aligned.jpg"))
    del expected[("train", "train_00002")]
    b = build(RafDb, str(root), data_dir)
    got = {(s, e["clip_id"]): e for s in ("train", "val", "test") for e in read_split(b, s)}
    # val: a tenth of the training images (here 1 of 5), drawn with the recorded seed, disjoint from train
    carved = metadata(b)["carved_val"]
    assert carved["seed"] == 0 and len(carved["subjects"]) == 1
    assert {c for s, c in got if s == "val"} == set(carved["subjects"]) - {"train_00002"}
    assert {("train" if s == "val" else s, c): e["label"] for (s, c), e in got.items()} == expected
    e = next(iter(got.values()))
    assert e["image"].shape == (SIZE, SIZE, 3) and e["image"].dtype == np.uint8
    assert metadata(b)["skipped"][0]["path"].endswith("train_00002_aligned.jpg")


def test_sfew(tmp_path, data_dir):
    root = tmp_path / "manual"
    expected = {}
    for split, folder in (("train", "Train/Train_Aligned_Faces"), ("val", "Val/Val_Aligned_Faces")):
        for j, emo in enumerate(("Angry", "Sad", "Surprise")):
            names = [f"Movie{j}_{split}00{j}_{f:08d}.png" for f in (1, 2)]
            write_images(str(root / folder / emo), face_frames(2, j), names)
            for nm in names:
                expected[(split, f"{split}_{emo}_{nm[:-4]}")] = Sfew.LABELS.index(emo.lower())
    b = build(Sfew, str(root), data_dir)
    got = {(s, e["clip_id"]): e for s in ("train", "val") for e in read_split(b, s)}
    assert {k: e["label"] for k, e in got.items()} == expected
    subjects = {s: {e["subject"] for (sp, _), e in got.items() if sp == s} for s in ("train", "val")}
    assert len(subjects["train"]) == 3 and not subjects["train"] & subjects["val"]  # one subject per scene


def test_affectnet_crops_face_box(tmp_path, data_dir):
    root = tmp_path / "manual"
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    expected = {}
    for split, fname in (("train", "training.csv"), ("validation", "validation.csv")):
        rows = [header] if split == "train" else []  # validation.csv ships without a header
        for i, code in enumerate((0, 3, 6, 7, 10)):
            img = np.zeros((64, 64, 3), np.uint8)
            img[16:48, 8:40] = 40 * i + 20  # the face box is a flat patch; outside is black
            rel = f"{i + 1}/{split}_{i}.jpg"
            write_images(str(root / "Manually_Annotated_Images" / str(i + 1)), img[None], [f"{split}_{i}.jpg"])
            rows.append(f"{rel},8,16,32,32,\"1;2;3\",{code},0.1,-0.2\n")
            if code < 7:
                expected[(split, rel.replace("/", "_"))] = (code, 40 * i + 20)
        (root / "Manually_Annotated_file_lists").mkdir(exist_ok=True)
        (root / "Manually_Annotated_file_lists" / fname).write_text("".join(rows))
    b = build(AffectNet, str(root), data_dir)
    got = {(s, e["clip_id"]): e for s in ("train", "validation") for e in read_split(b, s)}
    assert set(got) == set(expected)
    for k, e in got.items():
        code, value = expected[k]
        assert e["label"] == code
        assert abs(float(e["image"].mean()) - value) < 4  # only the box was kept
    assert AffectNet.SUPPORTS_BEAM
