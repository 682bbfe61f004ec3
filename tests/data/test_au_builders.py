"""DISFA and BP4D builders: per-AU intensity label files, windowed clips, 3 subject-independent folds."""

import os

import numpy as np
from builder_helpers import build, check_folds, corrupt, face_frames, metadata, write_images, write_video

from data_pipelines.bp4d import Bp4d
from data_pipelines.disfa import Disfa


def test_disfa(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(Disfa, "WINDOW", 12)  # tiny recordings: 20 frames -> clips of 12 + 8 frames
    root = tmp_path / "manual"
    truth = {}
    for i in range(4):
        sn = f"SN{i + 1:03d}"
        write_video(str(root / "Videos_LeftCamera" / f"LeftVideo{sn}_Comp.avi"), face_frames(20, i), fps=20)
        au = (np.arange(20)[:, None] + 3 * np.arange(12)[None] + i) % 6
        for j, k in enumerate(Disfa.AUS):
            d = root / "ActionUnit_Labels" / sn
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{sn}_au{k}.txt").write_text("".join(f"{t + 1},{au[t, j]}\n" for t in range(20)))
        truth[sn] = au.astype(np.float32)
    os.remove(root / "ActionUnit_Labels" / "SN004" / "SN004_au26.txt")  # incomplete labels: reported, skipped
    b = build(Disfa, str(root), data_dir)
    folds = check_folds(b, 3)
    got = {e["clip_id"]: e for exs in folds.values() for e in exs}
    assert set(got) == {f"SN00{i}_w{s:06d}" for i in (1, 2, 3) for s in (0, 12)}
    for cid, e in got.items():
        sn, start = cid.split("_w")[0], int(cid.split("_w")[1])
        np.testing.assert_array_equal(e["au_intensity"], truth[sn][start:start + 12])
        assert e["subject"] == sn and e["label"] == 0
        assert int((e["frame_types"] > 0).sum()) == len(e["au_intensity"])
    assert "SN004_au26.txt" in metadata(b)["skipped"][0]["error"]
    # through the input pipeline: the AU rows are those of the sampled frames
    from data_pipelines.input_pipeline import make_iterator

    cfg = dict(dataset="disfa", data_dir=data_dir, size=32, identity_backbone="dlib", eval_batch_size=2,
               segments=2, segment_mode="tsn")
    for batch in make_iterator(cfg, "fold0", seed=0, process_index=0, process_count=1, train=False):
        assert batch["au_intensity"].shape == (2, 2, 12)
        assert set(np.unique(batch["au_intensity"])) <= set(range(6))
        assert not np.array_equal(batch["au_intensity"][:, 0], batch["au_intensity"][:, 1])


def test_bp4d(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(Bp4d, "WINDOW", 8)
    root = tmp_path / "manual"
    subjects = ["F001", "F002", "M001", "M002"]
    for i, subj in enumerate(subjects):
        for task in ("T1", "T8"):
            frames = face_frames(10, 10 * i + int(task[1]))
            write_images(str(root / "BP4D-training" / subj / task), frames, [f"{t:04d}.jpg" for t in range(1, 11)])
            for k in Bp4d.AUS:
                d = root / "AUCoding" / "AU_INT" / f"AU{k:02d}"
                d.mkdir(parents=True, exist_ok=True)
                # frames 3..10 coded (1-2 not), frame 5 of AU17 not codable (9)
                rows = [f"{t},{9 if (k == 17 and t == 5) else (t + k) % 6}\n" for t in range(3, 11)]
                (d / f"{subj}_{task}_AU{k:02d}.csv").write_text("".join(rows))
    corrupt(str(root / "BP4D-training" / "M002" / "T8" / "0004.jpg"))
    b = build(Bp4d, str(root), data_dir)
    folds = check_folds(b, 3)
    got = {e["clip_id"]: e for exs in folds.values() for e in exs}
    assert set(got) == {f"{s}_{t}_w000000" for s in subjects for t in ("T1", "T8")} - {"M002_T8_w000000"}
    e = got["F001_T1_w000000"]
    want = np.array([[(t + k) % 6 for k in Bp4d.AUS] for t in range(3, 11)], np.float32)
    want[2, 4] = -1.0  # frame 5, AU17: not coded
    np.testing.assert_array_equal(e["au_intensity"], want)
    assert e["au_intensity"].shape == (8, 5)
    assert [s["path"] for s in metadata(b)["skipped"]] == [str(root / "BP4D-training" / "M002" / "T8")]
