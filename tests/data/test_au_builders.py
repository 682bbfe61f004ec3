"""DISFA and BP4D builders: per-AU intensity label files, windowed clips, 3 subject-independent folds; BP4D's
FERA 2015 train / development partition."""

import os

import numpy as np
from builder_helpers import build, check_folds, corrupt, face_frames, metadata, read_split, write_images, write_video

from data_pipelines.bp4d import Bp4d
from data_pipelines.bp4d.builder import FERA_DEVEL, FERA_TRAIN
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
    b = build(Bp4d, str(root), data_dir, config_kwargs={"protocol": "folds"})
    assert b.builder_config.name.endswith("_folds")
    folds = check_folds(b, 3)
    got = {e["clip_id"]: e for exs in folds.values() for e in exs}
    assert set(got) == {f"{s}_{t}_w000000" for s in subjects for t in ("T1", "T8")} - {"M002_T8_w000000"}
    e = got["F001_T1_w000000"]
    want = np.array([[(t + k) % 6 for k in Bp4d.AUS] for t in range(3, 11)], np.float32)
    want[2, 4] = -1.0  # frame 5, AU17: not coded
    np.testing.assert_array_equal(e["au_intensity"], want)
    assert e["au_intensity"].shape == (8, 5)
    assert [s["path"] for s in metadata(b)["skipped"]] == [str(root / "BP4D-training" / "M002" / "T8")]


def write_bp4d(root, folder: str, subjects: list[str], n: int = 4) -> None:
    """One task (T1) of ``n`` frames per subject under ``folder``, every frame coded."""
    for i, subj in enumerate(subjects):
        write_images(str(root / folder / subj / "T1"), face_frames(n, i), [f"{t:04d}.jpg" for t in range(1, n + 1)])
        for k in Bp4d.AUS:
            d = root / "AUCoding" / "AU_INT" / f"AU{k:02d}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{subj}_T1_AU{k:02d}.csv").write_text("".join(f"{t},{(t + k) % 6}\n" for t in range(1, n + 1)))


def test_bp4d_fera_partition(tmp_path, data_dir, monkeypatch):
    """The default build: FERA 2015's training subjects -> train + a carved val, its development ones -> test."""
    monkeypatch.setattr(Bp4d, "WINDOW", 4)
    assert len(FERA_TRAIN) == 21 and len(FERA_DEVEL) == 20 and not set(FERA_TRAIN) & set(FERA_DEVEL)
    root = tmp_path / "manual"
    train_side, devel_side = ["F001", "F007", "F023", "M001", "M017"], ["F002", "F022", "M018"]
    write_bp4d(root, "BP4D-training", train_side)
    write_bp4d(root, "BP4D-development", devel_side + ["F099"])  # F099: in neither partition
    b = build(Bp4d, str(root), data_dir)
    assert set(b.info.splits) == {"train", "val", "test"}
    subjects = {s: {e["subject"] for e in read_split(b, s)} for s in ("train", "val", "test")}
    assert subjects["test"] == set(devel_side)
    assert subjects["train"] | subjects["val"] == set(train_side) and not subjects["train"] & subjects["val"]
    carved = metadata(b)["carved_val"]
    assert carved["seed"] == 0 and set(carved["subjects"]) == subjects["val"] and len(subjects["val"]) == 1
    assert [s["path"] for s in metadata(b)["skipped"]] == ["F099_T1"]


def test_fold_configs_read_the_fold_build(tmp_path):
    """Both BP4D builds side by side: a fold config (input.fold >= 0) reads ``_folds``, the others FERA's."""
    from data_pipelines.input_pipeline import dataset_dir

    for name in ("size32_gop12_accumulate_dlib", "size32_gop12_accumulate_dlib_folds"):
        (tmp_path / "bp4d" / name / "1.1.0").mkdir(parents=True)
        (tmp_path / "bp4d" / name / "1.1.0" / "dataset_info.json").write_text("{}")
    cfg = dict(dataset="bp4d", data_dir=str(tmp_path), size=32, identity_backbone="dlib")
    assert dataset_dir(cfg).split(os.sep)[-2] == "size32_gop12_accumulate_dlib"
    assert dataset_dir(dict(cfg, fold=1)).split(os.sep)[-2] == "size32_gop12_accumulate_dlib_folds"
