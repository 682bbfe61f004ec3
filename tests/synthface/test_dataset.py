"""generate() and `fer-jax synthface`: real videos, labels, splits, identity pool, determinism."""

import json

import numpy as np
import pytest

from data_pipelines.synthface import EXPRESSIONS, assign_splits, generate, make_identity, render_clip
from data_pipelines.synthface.cli import main
from data_pipelines.synthface.dataset import clip_length, clip_seed
from data_pipelines.synthface.video_io import GOP, VideoWriteError, encode_video, read_video

FIELDS = {"clip_id", "file", "expression", "identity", "split", "apex_index", "au_intensity",
          "regime", "fps", "n_frames"}


def _labels(path):
    return [json.loads(line) for line in (path / "labels.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def lab_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    result = generate(out, identities=5, clips_per_identity=1, regime="lab", frames=14, size=48,
                      seed=7, pool_identities=3, pool_images=2, workers=0)
    return out, result


def test_generate_writes_every_clip_labels_and_pool(lab_set):
    out, result = lab_set
    assert result.errors == [] and result.n_clips == 5 * 7
    rows = _labels(out)
    assert len(rows) == 35 and all(FIELDS <= set(r) for r in rows)
    assert {r["expression"] for r in rows} == set(range(len(EXPRESSIONS)))
    for r in rows:
        assert (out / r["file"]).is_file()
        assert r["n_frames"] == 14 and np.shape(r["au_intensity"]) == (14, 12)
        assert 0 <= r["apex_index"] < 14 and r["regime"] == "lab" and r["fps"] == 25.0
    pool = np.load(out / "identity_pool.npz")
    assert pool["images"].shape == (6, 48, 48, 3) and pool["images"].dtype == np.uint8
    assert pool["identity"].dtype == np.int32
    assert set(pool["identity"].tolist()) == {5, 6, 7}
    assert not set(pool["identity"].tolist()) & {r["identity"] for r in rows}
    meta = json.loads((out / "identities.json").read_text())
    assert len(meta["identities"]) == 8


def test_videos_are_canonical_mpeg4_and_match_the_rendered_frames(lab_set):
    out, _ = lab_set
    row = next(r for r in _labels(out) if r["expression"] == EXPRESSIONS.index("surprise"))
    decoded, types = read_video(out / row["file"])
    assert types == [1 if t % GOP == 0 else 2 for t in range(14)]  # GOP 12, I then P, no B
    frames, labels = render_clip(make_identity(row["identity"], 7), row["expression"], "lab", 14, 48,
                                 clip_seed(7, 0))
    assert labels["apex_index"] == row["apex_index"]
    np.testing.assert_allclose(labels["au_intensity"], row["au_intensity"], atol=1e-3)
    mse = np.mean((decoded.astype(np.float64) - frames) ** 2)
    assert 10 * np.log10(255**2 / mse) > 28  # PSNR: the file holds these frames


def test_h264_encoding_keeps_the_gop_and_drops_b_frames(tmp_path):
    frames, _ = render_clip(1, "anger", "wild", n_frames=14, size=32, seed=0)
    encode_video(frames, tmp_path / "h.mp4", codec="libx264")
    decoded, types = read_video(tmp_path / "h.mp4")
    assert types == [1 if t % GOP == 0 else 2 for t in range(14)] and decoded.shape == frames.shape


def test_splits_are_subject_disjoint_and_cover_everyone():
    splits = assign_splits(40, seed=3)
    counts = {s: list(splits.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 28, "val": 6, "test": 6}
    assert assign_splits(40, seed=3) == splits and assign_splits(40, seed=4) != splits
    assert set(assign_splits(3).values()) == {"train", "val", "test"}


def test_label_splits_follow_identity(lab_set):
    out, _ = lab_set
    by_id = {}
    for r in _labels(out):
        by_id.setdefault(r["identity"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_id.values())


def test_generate_is_deterministic_across_worker_counts(lab_set, tmp_path):
    out, _ = lab_set
    generate(tmp_path, identities=5, clips_per_identity=1, regime="lab", frames=14, size=48, seed=7,
             pool_identities=3, pool_images=2, workers=2)
    assert (tmp_path / "labels.jsonl").read_bytes() == (out / "labels.jsonl").read_bytes()
    for r in _labels(out)[:7]:
        assert (tmp_path / r["file"]).read_bytes() == (out / r["file"]).read_bytes()
    a, b = np.load(out / "identity_pool.npz"), np.load(tmp_path / "identity_pool.npz")
    np.testing.assert_array_equal(a["images"], b["images"])


def test_wild_clips_have_variable_length(tmp_path):
    lengths = {clip_length("wild", 16, clip_seed(0, 0), k, 1) for k in range(30)}
    assert min(lengths) >= 12 and max(lengths) <= 20 and len(lengths) > 3
    generate(tmp_path, identities=1, clips_per_identity=1, regime="wild", frames=16, size=32,
             pool_identities=0, workers=0)
    rows = _labels(tmp_path)
    for r in rows:
        decoded, _ = read_video(tmp_path / r["file"])
        assert len(decoded) == r["n_frames"] == len(r["au_intensity"])
    assert len({r["n_frames"] for r in rows}) > 1


def test_encoding_errors_name_the_file(tmp_path):
    with pytest.raises(VideoWriteError, match="x.mp4"):
        encode_video(np.zeros((2, 33, 33, 3), np.uint8), tmp_path / "x.mp4")
    with pytest.raises(VideoWriteError, match="uint8"):
        encode_video(np.zeros((2, 32, 32, 3), np.float32), tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_failed_clips_are_reported_and_left_out(tmp_path):
    result = generate(tmp_path, identities=1, clips_per_identity=1, frames=4, size=32,
                      pool_identities=0, workers=0, codec="no-such-codec")
    assert result.n_clips == 0 and len(result.errors) == 7
    assert "no-such-codec" in result.errors[0] and ".mp4" in result.errors[0]
    assert (tmp_path / "labels.jsonl").read_text() == ""
    failed = [json.loads(x) for x in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert len(failed) == 7 and "no-such-codec" in failed[0]["error"]
    assert not list((tmp_path / "videos").iterdir())  # no half-written videos
    assert main(["--out", str(tmp_path), "--identities", "1", "--clips-per-identity", "1",
                 "--frames", "4", "--size", "32", "--pool-identities", "0", "--workers", "0",
                 "--codec", "no-such-codec", "--quiet"]) == 1


def test_cli_generates_previews_and_rejects_bad_usage(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "d"), "--identities", "2", "--clips-per-identity", "1",
                 "--frames", "4", "--size", "32", "--pool-identities", "1", "--pool-images", "1",
                 "--workers", "0", "--quiet"]) == 0
    assert len(_labels(tmp_path / "d")) == 14
    assert main(["--out", str(tmp_path / "p"), "--preview", "--preview-identities", "2",
                 "--size", "48", "--frames", "6"]) == 0
    from PIL import Image

    sheet = np.asarray(Image.open(tmp_path / "p" / "synthface_contact_sheet.png"))
    assert sheet.shape[1] == 7 * 48 and sheet.shape[0] > 2 * 48
    assert main(["--out", str(tmp_path), "--size", "31"]) == 2
    assert "size" in capsys.readouterr().err
    assert main(["--out", str(tmp_path), "--regime", "moon"]) == 2
    assert main([]) == 2
    assert main(["--out", str(tmp_path / "d"), "--identities", "0"]) == 2
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--out", str(blocker / "sub"), "--identities", "1", "--frames", "4", "--size", "32",
                 "--quiet"]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["--help"]) == 0
