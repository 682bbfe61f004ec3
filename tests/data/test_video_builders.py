"""Oulu-CASIA, MMI, DFEW and AFEW builders, each on a fixture tree in its official layout."""

import csv

import numpy as np
from builder_helpers import (
    SIZE,
    build,
    check_folds,
    corrupt,
    face_frames,
    metadata,
    read_split,
    write_images,
    write_video,
)

from data_pipelines.afew import Afew
from data_pipelines.dfew import Dfew
from data_pipelines.mmi import Mmi
from data_pipelines.oulu_casia import OuluCasia


def test_oulu_casia(tmp_path, data_dir):
    root = tmp_path / "manual"
    expected = {}
    for i in range(10):
        subj = f"P{i + 1:03d}"
        for j, emo in enumerate(("Anger", "Surprise") if i % 2 else ("Happiness",)):
            seq = root / "OriginalImg" / "VL" / "Strong" / subj / emo
            write_images(str(seq), face_frames(5, 10 * i + j), [f"{t:03d}.jpeg" for t in range(5)])
            expected[f"{subj}_{emo}"] = OuluCasia.LABELS.index(emo.lower())
    # the NIR camera and weak lighting are not part of the standard protocol
    write_images(str(root / "OriginalImg" / "NI" / "Strong" / "P001" / "Anger"), face_frames(2, 0),
                 ["000.jpeg", "001.jpeg"])
    b = build(OuluCasia, str(root), data_dir)
    folds = check_folds(b, 10)
    got = {e["clip_id"]: e for exs in folds.values() for e in exs}
    assert {k: e["label"] for k, e in got.items()} == expected
    assert all(e["subject"] == k.split("_")[0] and e["apex_index"] == 4 for k, e in got.items())
    # both sequences of one subject land in the same fold
    for exs in folds.values():
        subjects = {e["subject"] for e in exs}
        assert len(subjects) == 1


def _mmi_session(root, n, subject_id, emotion, seed):
    sdir = root / "Sessions" / str(n)
    sdir.mkdir(parents=True)
    (sdir / "session.xml").write_text(
        f'<?xml version="1.0"?>\n<session sessionId="{n}" recording="{n}">\n'
        f'  <subject id="{subject_id}" />\n</session>\n')
    stem = f"S{subject_id:03d}-{n:03d}"
    write_video(str(sdir / f"{stem}.avi"), face_frames(14, seed))
    tags = f'<Metatag Name="Emotion" Value="{emotion}" />' if emotion else '<Metatag Name="Gender" Value="Male" />'
    (sdir / f"{stem}.xml").write_text(f'<?xml version="1.0"?>\n<Metatags>\n  {tags}\n</Metatags>\n')
    return f"{n}_{stem}"


def test_mmi(tmp_path, data_dir):
    root = tmp_path / "manual"
    expected = {}
    for n in range(11):
        subject = 1 + n % 10  # subject 1 has two sessions
        emotion = 1 + n % 6
        expected[_mmi_session(root, n + 1, subject, emotion, n)] = (emotion - 1, f"S{subject:03d}")
    _mmi_session(root, 50, 3, None, 50)  # AU-only session: no Emotion tag, not used
    corrupt(str(root / "Sessions" / "11" / "S001-011.avi"))  # subject 1 keeps its other session
    b = build(Mmi, str(root), data_dir)
    folds = check_folds(b, 10)
    got = {e["clip_id"]: (e["label"], e["subject"]) for exs in folds.values() for e in exs}
    del expected["11_S001-011"]
    assert got == expected
    ex = folds["fold0"][0]
    assert ex["iframes"].shape == (2, SIZE, SIZE, 3) and ex["apex_index"] == -1
    assert [s["path"] for s in metadata(b)["skipped"]] == [str(root / "Sessions" / "11" / "S001-011.avi")]


def test_dfew_official_folds(tmp_path, data_dir):
    root = tmp_path / "manual"
    expected = {}
    for k in range(1, 6):
        rows = []
        for j in range(2):
            vid = 2 * (k - 1) + j + 1
            name = f"{vid:05d}"
            write_images(str(root / "Clip" / "clip_224x224" / name), face_frames(4, vid),
                         [f"{name}_{t:05d}.jpg" for t in range(1, 5)])
            rows.append((vid, 1 + vid % 7))
            expected[name] = (k - 1, vid % 7)
        for part in ("test(single-labeled)", "train(single-labeled)"):
            d = root / "EmoLabel_DataSplit" / part
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"set_{k}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["video_name", "label"])
                w.writerows(rows if part.startswith("test") else [(99, 1)])
    b = build(Dfew, str(root), data_dir)
    folds = check_folds(b, 5)
    got = {e["clip_id"]: (int(f[4:]), e["label"]) for f, exs in folds.items() for e in exs}
    assert got == expected
    assert b.info.splits["fold0+fold1+fold2+fold3"].num_examples == 8


def test_afew_train_val_with_worker_pool(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(Afew, "POOL_MIN_SOURCES_PER_WORKER", 0)  # use the pool even for 3 clips
    root = tmp_path / "manual"
    expected = {}
    for split, folder in (("train", "Train_AFEW"), ("val", "Val_AFEW")):
        for j, emo in enumerate(("Angry", "Happy", "Neutral")):
            name = f"{j:09d}"
            write_video(str(root / folder / emo / f"{name}.avi"), face_frames(6, j + 10 * (split == "val")))
            expected[(split, f"{split}_{name}")] = Afew.LABELS.index(emo.lower())
    b = build(Afew, str(root), data_dir, workers=2)  # a local pool of 2 spawned generation processes
    got = {(s, e["clip_id"]): e["label"] for s in ("train", "val") for e in read_split(b, s)}
    assert got == expected
    train, val = ({e["subject"] for e in read_split(b, s)} for s in ("train", "val"))
    assert not train & val
    assert all(np.isfinite(e["motion_vectors"].astype(np.float32)).all() for e in read_split(b, "val"))
