"""Extraction on real encoded video: known motion, a real face clip, and every input format we promise."""

import fractions
import io

import av
import numpy as np
import pytest
from compressed_videos import pan_frames, write_video

from data_pipelines.compressed import (
    CompressedClip,
    ExtractionError,
    canonical,
    extract_file,
    extract_frames,
    load_clip,
    save_clip,
)

S = 112
INNER = slice(6, 22)  # MV cells away from the border, where content enters the frame


@pytest.mark.parametrize("dx,dy", [(2, 1), (-1, 3)])
def test_known_pan_gives_its_motion_vectors_in_both_modes(dx, dy):
    frames = pan_frames(24, S, S, dx, dy)
    clip = extract_frames(frames, mode="frame")
    mv = clip.motion_vectors.astype(np.float32)[:, :, INNER, INNER]
    # sign convention: source - destination, so content moving by (+dx, +dy) gives (-dx, -dy)
    assert np.median(mv[..., 0]) == -dx and np.median(mv[..., 1]) == -dy
    acc = extract_frames(frames, mode="accumulate")
    amv = acc.motion_vectors.astype(np.float32)[:, :, INNER, INNER]
    for t in range(11):  # accumulated: relative to the I-frame, i.e. (t + 1) frames of pan
        assert np.median(amv[:, t, ..., 0]) == -dx * (t + 1)
        assert np.median(amv[:, t, ..., 1]) == -dy * (t + 1)


@pytest.mark.parametrize("mode", ["accumulate", "frame"])
def test_pan_residuals_are_far_smaller_than_frame_differences(mode):
    frames = pan_frames(24, S, S, 2, 1)
    clip = extract_frames(frames, mode=mode)
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    res = np.abs(clip.residuals[inner].astype(np.float32)).mean()
    ref = frames[0::12] if mode == "accumulate" else frames[np.arange(24).reshape(2, 12)[:, :-1]]
    if mode == "accumulate":
        naive = np.abs(frames.reshape(2, 12, S, S, 3)[:, 1:].astype(np.float32) - ref[:, None]).mean()
    else:
        naive = np.abs(frames.reshape(2, 12, S, S, 3)[:, 1:].astype(np.float32) - ref).mean()
    assert res < 0.1 * naive, (res, naive)  # measured: ~0.03


def test_contract_shapes_dtypes_padding_and_pts():
    clip = extract_frames(pan_frames(30, 64, 64, 1, 0), fps=10.0, size=64, gop=12)
    assert isinstance(clip, CompressedClip)
    assert clip.iframes.shape == (3, 64, 64, 3) and clip.iframes.dtype == np.uint8
    assert clip.motion_vectors.shape == (3, 11, 16, 16, 2) and clip.motion_vectors.dtype == np.float16
    assert clip.residuals.shape == (3, 11, 64, 64, 3) and clip.residuals.dtype == np.int16
    assert clip.frame_types.tolist()[2] == [1] + [2] * 5 + [0] * 6
    assert clip.pts[2].tolist() == [24, 25, 26, 27, 28, 29] + [-1] * 6
    assert (clip.residuals[2, 5:] == 0).all() and (clip.motion_vectors[2, 5:] == 0).all()
    assert np.abs(clip.residuals).max() <= 255
    assert clip.meta["n_frames"] == 30 and clip.meta["fps"] == 10.0 and clip.meta["gop"] == 12


def test_gop_is_configurable():
    clip = extract_frames(pan_frames(10, 32, 32, 1, 1), size=32, gop=4)
    assert clip.frame_types.shape == (3, 4) and clip.residuals.shape == (3, 3, 32, 32, 3)
    assert clip.frame_types[:, 0].tolist() == [1, 1, 1]


def test_real_face_clip_motion_compensation_works(carphone):
    clip = extract_file(carphone)
    assert clip.meta["codec"] == "h264" and clip.meta["reencoded"] and clip.meta["n_frames"] == 120
    assert clip.iframes.shape == (10, S, S, 3)
    # the same canonical frames, decoded to RGB by PyAV, give the uncompensated difference
    data, _ = canonical.canonical_from_file(carphone, size=S, gop=12, fps=None)
    with av.open(io.BytesIO(data)) as c:
        rgb = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)
    gops = rgb.reshape(10, 12, S, S, 3)
    assert np.abs(gops[:, 0] - clip.iframes).max() == 0  # I-frames are exactly the decoded frames
    naive = np.abs(gops[:, 1:] - gops[:, :1])
    res = np.abs(clip.residuals.astype(np.float32))
    # whole frame (includes the scenery rushing past the car window, which no block motion explains)
    assert res.mean() < 0.75 * naive.mean(), (res.mean(), naive.mean())
    face = (slice(None), slice(None), slice(16, 64), slice(16, 80))  # the face after the centre crop
    assert res[face].mean() < 0.7 * naive[face].mean(), (res[face].mean(), naive[face].mean())
    assert np.abs(clip.motion_vectors.astype(np.float32)).max() > 0.5  # the face and camera do move


def test_frame_mode_reconstructs_the_decoded_frame(carphone):
    """residual = frame - prediction, so prediction + residual must give back the decoded frame (RGB path)."""
    from data_pipelines.compressed.decode import decode_gops, gop_tensors

    data, _ = canonical.canonical_from_file(carphone, size=S, gop=12, fps=None)
    g = next(decode_gops(data, size=S, gop=12, colour="rgb"))
    out = gop_tensors(g, gop=12, mode="frame", colour="rgb")
    with av.open(io.BytesIO(data)) as c:
        rgb = [f.to_ndarray(format="rgb24").astype(np.int16) for _, f in zip(range(12), c.decode(video=0))]
    # a residual of exactly zero motion error: frame_t - residual_t is a motion-compensated frame_{t-1}
    pred = np.stack(rgb[1:]) - out["residuals"]
    assert pred.min() >= 0 and pred.max() <= 255
    assert np.abs(pred - np.stack(rgb[:-1])).mean() < np.abs(np.stack(rgb[1:]) - np.stack(rgb[:-1])).mean()


def test_yuv_and_rgb_paths_agree(carphone):
    a = extract_file(carphone, colour="yuv")
    b = extract_file(carphone, colour="rgb")
    np.testing.assert_array_equal(a.motion_vectors, b.motion_vectors)
    d = np.abs(a.residuals.astype(np.int32) - b.residuals)
    assert d.mean() < 1.5 and np.percentile(d, 99) <= 8


def test_conforming_input_is_not_reencoded(tmp_path):
    data = canonical.encode_canonical(pan_frames(20, 64, 64, 1, 0), size=64, fps=25, gop=12)
    path = tmp_path / "canon.mp4"
    path.write_bytes(data)
    clip = extract_file(path, size=64)
    assert clip.meta["reencoded"] is False and clip.meta["codec"] == "mpeg4" and clip.meta["n_frames"] == 20
    assert extract_file(path, size=64, gop=10).meta["reencoded"] is True  # other GOP: must re-encode
    assert extract_file(path, size=32).meta["reencoded"] is True


def test_h264_with_b_frames_is_reencoded_to_i_and_p(tmp_path):
    path = write_video(tmp_path / "bf.mp4", pan_frames(26, 64, 64, 2, 0), max_b_frames=3, gop=30)
    with av.open(str(path)) as c:
        kinds = {int(f.pict_type) for f in c.decode(video=0)}
    assert 3 in kinds  # the fixture really has B-frames
    clip = extract_file(path, size=64)
    assert clip.meta["reencoded"] and clip.meta["n_frames"] == 26
    assert set(clip.frame_types.ravel().tolist()) <= {0, 1, 2}
    assert np.median(clip.motion_vectors[0, :, 4:12, 4:12, 0].astype(np.float32) / np.arange(1, 12)[:, None, None]) == -2


@pytest.mark.parametrize("codec,pix_fmt,fmt,source_codec", [("libx265", "yuv420p", "mp4", "hevc"),
                                                            ("mjpeg", "yuvj420p", "avi", "mjpeg"),
                                                            ("libvpx-vp9", "yuv420p", "webm", "vp9"),
                                                            ("mpeg4", "yuv420p", "mp4", "mpeg4")])
def test_other_codecs(tmp_path, codec, pix_fmt, fmt, source_codec):
    path = write_video(tmp_path / f"clip.{fmt}", pan_frames(14, 64, 64, 1, 1), codec=codec, pix_fmt=pix_fmt,
                       fmt=fmt, options={"x265-params": "log-level=error"} if codec == "libx265" else None)
    clip = extract_file(path, size=64)
    assert clip.meta["n_frames"] == 14 and clip.iframes.shape == (2, 64, 64, 3)
    assert clip.meta["codec"] == source_codec  # the input's codec, as the decoder names it


def test_odd_size_317x239(tmp_path):
    frames = pan_frames(12, 239, 317, 1, 0)
    path = write_video(tmp_path / "odd.mkv", frames, codec="libx264", pix_fmt="yuv444p")
    with av.open(str(path)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (317, 239)
    clip = extract_file(path, size=48)
    assert clip.iframes.shape == (1, 48, 48, 3) and clip.meta["n_frames"] == 12
    # centre square of the first frame, resized: close to the I-frame
    x0 = (317 - 239) // 2
    want = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[0][:, x0:x0 + 239])).reformat(
        width=48, height=48, interpolation="AREA").to_ndarray()
    assert np.abs(want.astype(int) - clip.iframes[0]).mean() < 6


def test_single_frame_video_is_one_padded_gop(tmp_path):
    path = write_video(tmp_path / "one.mp4", pan_frames(1, 64, 64, 0, 0))
    clip = extract_file(path, size=64)
    assert clip.iframes.shape[0] == 1 and clip.frame_types[0].tolist() == [1] + [0] * 11
    assert (clip.residuals == 0).all() and clip.meta["n_frames"] == 1


def test_rotation_metadata_is_applied(tmp_path):
    src = np.zeros((4, 32, 64, 3), np.uint8)  # stored 64 wide x 32 high, displayed rotated by 90 degrees
    src[:, 0:8, 32:48] = 255
    path = write_video(tmp_path / "rot.mp4", src, rotation=90)
    clip = extract_file(path, size=32)
    img = clip.iframes[0].mean(-1)
    # upright frame is 32 wide x 64 high; its centre square holds the marker at rows 0..15, cols 0..7
    assert img[2:14, 1:7].mean() > 200 and img[2:14, 12:30].mean() < 40


def test_variable_frame_rate_is_resampled_to_constant(tmp_path):
    tb = fractions.Fraction(1, 1000)
    gaps = [40, 40, 120, 40, 80, 40, 40, 200, 40, 40]  # ms between frames; the last starts at 0.68 s
    pts = np.concatenate([[0], np.cumsum(gaps)])
    frames = np.repeat((np.arange(len(pts)) * 20 + 20).astype(np.uint8), 64 * 64 * 3).reshape(-1, 64, 64, 3)
    path = write_video(tmp_path / "vfr.mkv", frames, pts=pts, time_base=tb, fmt="matroska")
    clip = extract_file(path, size=64, fps=10.0, gop=2)
    assert clip.meta["fps"] == 10.0
    # ticks 0, 0.1, ..., 0.7 s each show the latest frame not after them (0.7 s: the last frame's span)
    assert clip.meta["n_frames"] == 8 and clip.pts.ravel().tolist() == list(range(8))
    shown = [0, 2, 3, 4, 7, 7, 8, 10]  # source frame index per tick
    grey = clip.iframes.mean(axis=(1, 2, 3))  # I-frames are ticks 0, 2, 4, 6
    np.testing.assert_allclose(grey, [20 * shown[t] + 20 for t in (0, 2, 4, 6)], atol=3)


def test_save_load_roundtrip_and_atomic_write(tmp_path, monkeypatch):
    clip = extract_frames(pan_frames(13, 32, 32, 1, 0), size=32)
    out = tmp_path / "c.npz"
    save_clip(clip, out)
    back = load_clip(out)
    for k in ("iframes", "motion_vectors", "residuals", "frame_types", "pts"):
        np.testing.assert_array_equal(getattr(back, k), getattr(clip, k))
    assert back.meta == clip.meta

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        save_clip(clip, tmp_path / "d.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # nothing half-written


def test_load_clip_rejects_damaged_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ExtractionError, match="bad.npz"):
        load_clip(bad)


def test_extract_frames_rejects_bad_arrays():
    with pytest.raises(ExtractionError, match="uint8"):
        extract_frames(np.zeros((3, 16, 16, 3), np.float32), size=16)
    with pytest.raises(ExtractionError):
        extract_frames(np.zeros((0, 16, 16, 3), np.uint8), size=16)
    with pytest.raises(ValueError, match="multiple of 16"):
        extract_frames(np.zeros((3, 16, 16, 3), np.uint8), size=20)
