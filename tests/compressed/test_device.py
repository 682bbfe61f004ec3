"""The device (JAX) backend of the compressed-domain maths equals the numpy path exactly.

Tolerance: none. Every step is integer arithmetic, and the float chroma terms come from tables computed
with the numpy path's own float32 expressions, so residuals (int16), motion vectors (float16), frame
types and pts must be bit-identical on real clips (carphone, SynthFace) and on a rectangular stream.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from compressed_videos import pan_frames, write_video

from data_pipelines.compressed import canonical, device, motion
from data_pipelines.compressed.decode import decode_gops
from data_pipelines.compressed.extract import extract_stream

KEYS = ("motion_vectors", "residuals", "frame_types", "pts", "iframes")


def _same(a: dict, b: dict, keys=KEYS) -> None:
    for k in keys:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def carphone_stream(carphone) -> bytes:
    data, _ = canonical.canonical_from_file(carphone, size=112, gop=12, fps=None)
    return data


@pytest.mark.parametrize("mode", ["accumulate", "frame"])
def test_carphone_equals_numpy_path(carphone_stream, mode):
    want = extract_stream(carphone_stream, size=112, gop=12, mode=mode)
    got = extract_stream(carphone_stream, size=112, gop=12, mode=mode, backend="jax")
    _same(want, got)
    assert np.abs(want["residuals"]).max() > 20 and np.abs(want["motion_vectors"]).max() >= 1  # real content


def test_sampled_residuals_equal_numpy_path(carphone_stream):
    frames = [0, 5, 13, 40, 47, 119, 500]  # an I-frame and an index past the end are ignored
    want = extract_stream(carphone_stream, size=112, gop=12, residual_frames=frames)
    got = extract_stream(carphone_stream, size=112, gop=12, residual_frames=frames, backend="jax")
    _same(want, got)
    assert np.count_nonzero(np.abs(got["residuals"]).reshape(-1, 112 * 112 * 3).sum(1)) == 5


def test_rectangular_stream_with_partial_macroblocks(tmp_path):
    """Width 84 is not a multiple of 16 (as CoViAR's 340): edge blocks reach past the frame."""
    frames = pan_frames(26, 48, 84, dx=3, dy=-1)
    path = write_video(tmp_path / "rect.mp4", frames, codec="mpeg4", gop=12, max_b_frames=0,
                       options={"sc_threshold": "1000000000", "qmin": "2", "qmax": "2"})
    want = extract_stream(path, size=(48, 84), gop=12)
    got = extract_stream(path, size=(48, 84), gop=12, backend="jax")
    _same(want, got)
    assert want["residuals"].shape == (3, 11, 48, 84, 3) and want["motion_vectors"].shape == (3, 11, 12, 21, 2)
    assert (want["motion_vectors"][0, 0, 3:9, 3:18, 0] == -3).mean() > 0.8  # the pan, source minus destination


def test_batch_of_clips_equals_per_clip_numpy(carphone_stream, tmp_path):
    from data_pipelines.synthface import generate

    generate(str(tmp_path), identities=1, clips_per_identity=1, regime="lab", frames=26, size=112,
             pool_identities=0, workers=1)
    paths = sorted(os.path.join(tmp_path, "videos", f) for f in os.listdir(tmp_path / "videos"))[:3]
    streams = [open(p, "rb").read() for p in paths] + [carphone_stream]
    wanted = [None, [3, 14], [1, 2, 25], None]
    packs = [device.pack_gops(list(decode_gops(s, size=112, gop=12)), gop=12, residual_frames=w)
             for s, w in zip(streams, wanted)]
    batch, spans = device.collate(packs)
    assert len(batch["records"]) == device.bucket(sum(len(p["records"]) for p in packs))
    outs = device.to_contract(device.extractor(112, 112)(batch), batch, spans, 12)
    for s, w, got in zip(streams, wanted, outs):
        _same(extract_stream(s, size=112, gop=12, residual_frames=w), got, KEYS[:-1])


def test_rasterise_matches_block_fields_on_edge_cases():
    """16x16, 8x8, quarter-pel, a future reference (dropped), negative and large vectors, and blocks hanging
    off every edge, parsed from FFmpeg's raw bytes on the device."""
    import jax.numpy as jnp

    from data_pipelines.compressed import device_ops

    rows = [(16, 16, 8, 8, -3, 2, 2, -1), (8, 8, 20, 4, 1, 0, 2, -1), (16, 16, 24, 24, 4, 4, 4, -1),
            (16, 16, 8, 24, 9, 9, 2, 1), (16, 16, 40, 8, 5, -7, 2, -1), (8, 8, 4, 36, -2, 6, 2, -1),
            (16, 16, -4, 8, 70000, -70001, 2, -1), (8, 8, 44, 36, -5, 3, 4, -1)]
    a = np.zeros(len(rows), motion.MV_DTYPE)
    for i, (w, h, dx, dy, mx, my, sc, src) in enumerate(rows):
        a[i] = (src, w, h, 0, 0, dx, dy, 0, mx, my, sc)
    mvs = [a.tobytes(), None, a[4:].tobytes()]
    want = motion.block_fields(mvs, (36, 44))
    raw, frame = device.pack_records(mvs)
    assert raw.shape == (12, 40) and list(frame) == [0] * 8 + [2] * 4
    got = np.asarray(device_ops.rasterise(jnp.asarray(raw), jnp.asarray(frame), (1, 4), 36, 44))[0]
    np.testing.assert_array_equal(got, want)
    assert (want[0] != 0).any() and (want[1] == 0).all()


def test_bad_input_raises():
    a = np.zeros(1, motion.MV_DTYPE)
    a[0] = (-1, 32, 32, 0, 0, 16, 16, 0, 2, 2, 2)
    with pytest.raises(ValueError, match="larger than 16 px"):
        device.pack_records([a.tobytes()])
    with pytest.raises(ValueError, match="backend must be"):
        extract_stream(b"", size=16, gop=12, backend="cuda")


def test_importing_the_package_does_not_load_jax():
    code = ("import sys; import data_pipelines.compressed, data_pipelines.compressed.device, "
            "data_pipelines.compressed.parallel; print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_backend_is_numpy_on_a_cpu():
    """numpy on a CPU, jax on an accelerator, numpy without JAX (fixed values, JAX's backend faked)."""
    code = "from data_pipelines.compressed import device; print(device.default_backend())"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "numpy"


@pytest.mark.parametrize("platform,want", [("cpu", "numpy"), ("gpu", "jax"), ("tpu", "jax"), (None, "numpy")])
def test_default_backend_per_platform(monkeypatch, platform, want):
    import jax

    if platform is None:
        monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` raises ImportError
    else:
        monkeypatch.setattr(jax, "default_backend", lambda: platform)
    assert device.default_backend() == want
