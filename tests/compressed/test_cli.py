"""``fer-jax extract`` on good and bad inputs: every bad input is its own test, and each run must leave
either a complete .npz or a ``failed`` manifest line with a readable reason -- never a partial file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from compressed_videos import pan_frames, write_audio, write_video

from data_pipelines.compressed import load_clip
from data_pipelines.compressed.cli import main


def _run(tmp_path, *inputs, extra=()):
    out = tmp_path / "out"
    rc = main([*map(str, inputs), "--out", str(out), "--size", "32", *extra])
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()] if out.exists() else []
    return rc, out, lines


def _assert_no_partial(out):
    names = os.listdir(out)
    assert not [n for n in names if n.startswith(".tmp")], names
    for n in names:
        if n.endswith(".npz"):
            load_clip(out / n)  # every .npz left is complete and valid


def _single_failure(tmp_path, path, *reason_words):
    rc, out, lines = _run(tmp_path, path)
    assert rc == 1
    assert len(lines) == 1 and lines[0]["status"] == "failed" and lines[0]["output"] is None
    reason = lines[0]["error"].lower()
    assert any(w in reason for w in reason_words), reason
    assert not list(out.glob("*.npz"))
    _assert_no_partial(out)
    return reason


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    _single_failure(tmp_path, p, "empty", "0 bytes")


def test_truncated_mp4(tmp_path):
    good = write_video(tmp_path / "full.mp4", pan_frames(24, 64, 64, 1, 0))
    data = open(good, "rb").read()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])
    _single_failure(tmp_path, p, "not a readable media file", "decod", "no video")


def test_random_bytes_named_mp4(tmp_path):
    p = tmp_path / "noise.mp4"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    _single_failure(tmp_path, p, "not a readable media file", "no video", "decod")


def test_text_file(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    _single_failure(tmp_path, p, "not a readable media file", "no video")


def test_audio_only_file(tmp_path):
    p = write_audio(tmp_path / "tone.m4a")
    reason = _single_failure(tmp_path, p, "no video stream")
    assert "audio" in reason


def test_single_frame_video(tmp_path):
    p = write_video(tmp_path / "one.mp4", pan_frames(1, 64, 64, 0, 0))
    rc, out, lines = _run(tmp_path, p)
    assert rc == 0 and lines[0]["status"] == "ok" and lines[0]["frames"] == 1 and lines[0]["gops"] == 1
    clip = load_clip(lines[0]["output"])
    assert clip.frame_types[0].tolist() == [1] + [0] * 11


def test_odd_size_video(tmp_path):
    p = write_video(tmp_path / "odd.mkv", pan_frames(6, 239, 317, 1, 0), pix_fmt="yuv444p")
    rc, out, lines = _run(tmp_path, p)
    assert rc == 0 and lines[0]["frames"] == 6
    assert load_clip(out / "odd.npz").iframes.shape == (1, 32, 32, 3)


def test_h264_with_b_frames(tmp_path):
    p = write_video(tmp_path / "bf.mp4", pan_frames(20, 64, 64, 1, 0), max_b_frames=2)
    rc, out, lines = _run(tmp_path, p)
    assert rc == 0 and lines[0]["frames"] == 20 and lines[0]["gops"] == 2


def test_hevc(tmp_path):
    p = write_video(tmp_path / "h.mp4", pan_frames(14, 64, 64, 1, 0), codec="libx265",
                    options={"x265-params": "log-level=error"})
    rc, out, lines = _run(tmp_path, p)
    assert rc == 0 and lines[0]["frames"] == 14
    assert load_clip(out / "h.npz").meta["codec"] == "hevc"


def test_folder_with_one_bad_file_parallel_and_resumable(tmp_path):
    src = tmp_path / "videos"
    (src / "sub").mkdir(parents=True)
    good = [write_video(src / "a.mp4", pan_frames(14, 64, 64, 1, 0)),
            write_video(src / "sub" / "b.mp4", pan_frames(13, 64, 64, 0, 1)),
            write_video(src / "c.mkv", pan_frames(5, 64, 64, 1, 1))]
    (src / "broken.mp4").write_bytes(b"\x00" * 1000)
    rc, out, lines = _run(tmp_path, src, extra=("--workers", "2"))
    assert rc == 1
    by_name = {os.path.basename(r["input"]): r for r in lines}
    assert set(by_name) == {"a.mp4", "b.mp4", "c.mkv", "broken.mp4"}
    assert by_name["broken.mp4"]["status"] == "failed" and by_name["broken.mp4"]["error"]
    for g in good:
        rec = by_name[os.path.basename(g)]
        assert rec["status"] == "ok" and rec["error"] is None and os.path.exists(rec["output"])
    assert by_name["a.mp4"]["frames"] == 14 and by_name["c.mkv"]["gops"] == 1
    assert sorted(p.name for p in out.glob("*.npz")) == ["a.npz", "b.npz", "c.npz"]
    _assert_no_partial(out)

    # a killed earlier run may leave a temp file: it is cleaned; finished inputs are skipped
    (out / ".tmp-dead.npz").write_bytes(b"partial")
    mtime = os.path.getmtime(out / "a.npz")
    rc, out, lines2 = _run(tmp_path, src, extra=("--workers", "2"))
    assert rc == 1 and os.path.getmtime(out / "a.npz") == mtime
    assert [os.path.basename(r["input"]) for r in lines2[len(lines):]] == ["broken.mp4"]  # only the failure retried
    _assert_no_partial(out)

    # other settings are not "done": everything is extracted again
    rc, out, lines3 = _run(tmp_path, src / "a.mp4", extra=("--mode", "frame"))
    assert rc == 0 and lines3[-1]["settings"]["mode"] == "frame"
    assert load_clip(out / "a.npz").meta["mode"] == "frame"


def test_globs_and_name_collisions(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        write_video(tmp_path / d / "same.mp4", pan_frames(3, 32, 32, 0, 0))
    rc, out, lines = _run(tmp_path, str(tmp_path / "*" / "same.mp4"))
    assert rc == 0 and len(lines) == 2
    names = sorted(p.name for p in out.glob("*.npz"))
    assert len(names) == 2 and all(n.startswith("same-") for n in names)


def test_usage_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([str(tmp_path / "*.nothing"), "--out", str(tmp_path / "o")]) == 2
    assert main(["--out", str(tmp_path / "o")]) == 2  # no PATH
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--size", "100"]) == 2
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--mode", "sideways"]) == 2
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--qscale", "0"]) == 2
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert main(["--help"]) == 0


def test_console_entry_point(tmp_path):
    p = write_video(tmp_path / "v.mp4", pan_frames(4, 32, 32, 0, 0))
    r = subprocess.run([sys.executable, "-m", "fer_jax.cli", "extract", str(p), "--out", str(tmp_path / "o"),
                        "--size", "32"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "v.npz").exists()


@pytest.mark.parametrize("bad", ["empty", "text"])
def test_good_files_still_written_beside_a_bad_one(tmp_path, bad):
    good = write_video(tmp_path / "good.mp4", pan_frames(5, 32, 32, 1, 0))
    b = tmp_path / "bad.mp4"
    b.write_bytes(b"" if bad == "empty" else b"hello\n")
    rc, out, lines = _run(tmp_path, good, b)
    assert rc == 1 and {r["status"] for r in lines} == {"ok", "failed"}
    assert (out / "good.npz").exists() and not (out / "bad.npz").exists()


def test_crop_faces_flag(tmp_path, carphone):
    frames = np.zeros((6, 64, 64, 3), np.uint8)
    frames[:, 20:40, 20:40] = 200
    noface = write_video(tmp_path / "noface.mp4", frames)
    rc, out, lines = _run(tmp_path, carphone, noface, extra=("--crop-faces", "--detect-every", "10"))
    assert rc == 1
    by_name = {os.path.basename(r["input"]): r for r in lines}
    assert by_name["carphone_pristine.mp4"]["status"] == "ok"
    assert by_name["carphone_pristine.mp4"]["settings"]["crop_faces"] is True
    assert len(load_clip(out / "carphone_pristine.npz").meta["face_box"]) == 3
    assert "no face found" in by_name["noface.mp4"]["error"]
