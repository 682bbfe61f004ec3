"""Unit tests of the vectorised motion maths (no video involved)."""

import av
import numpy as np

from data_pipelines.compressed import motion

_MV_DTYPE = np.dtype({"names": ["source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "flags", "motion_x",
                                "motion_y", "motion_scale"],
                      "formats": ["<i4", "u1", "u1", "<i2", "<i2", "<i2", "<i2", "<u8", "<i4", "<i4", "<u2"],
                      "offsets": [0, 4, 5, 6, 8, 10, 12, 16, 24, 28, 32], "itemsize": 40, "aligned": True})


def _mvs(rows):
    """rows of (w, h, dst_x, dst_y, motion_x, motion_y, motion_scale, source)."""
    a = np.zeros(len(rows), _MV_DTYPE)
    for i, (w, h, dx, dy, mx, my, sc, src) in enumerate(rows):
        a[i] = (src, w, h, 0, 0, dx, dy, 0, mx, my, sc)
    return a


def test_block_fields_rasterises_16_and_8_pixel_blocks_in_half_pel():
    mvs = _mvs([(16, 16, 8, 8, -3, 2, 2, -1),      # top-left macroblock: (-1.5, +1) px
                (8, 8, 20, 4, 1, 0, 2, -1),        # 8x8 block at x 16..23, y 0..7: (+0.5, 0) px
                (16, 16, 24, 24, 4, 4, 4, -1),     # quarter-pel (+1, +1) px at x 16..31, y 16..31
                (16, 16, 8, 24, 9, 9, 2, 1)])      # a future reference (B-frame) is ignored
    f = motion.block_fields([mvs, None], 32)
    assert f.shape == (2, 8, 8, 2) and f.dtype == np.int16
    assert (f[0, 0:4, 0:4] == [-3, 2]).all()
    assert (f[0, 0:2, 4:6] == [1, 0]).all() and (f[0, 2:4, 4:6] == 0).all()
    assert (f[0, 4:8, 4:8] == [2, 2]).all()
    assert (f[0, 4:8, 0:4] == 0).all()  # intra / unlisted / future-ref blocks: zero motion
    assert (f[1] == 0).all()


def test_compose_of_translations_adds_up_exactly():
    step = np.zeros((4, 16, 16, 2), np.int16)
    step[..., 0], step[..., 1] = -3, 2  # -1.5 px, +1 px per frame (half-pel units)
    acc = np.zeros_like(step[0])
    for t in range(4):
        acc = motion.compose(acc, step[t])
        inner = acc[4:12, 4:12]
        assert (inner[..., 0] == -3 * (t + 1)).all() and (inner[..., 1] == 2 * (t + 1)).all()


def test_compose_follows_the_source_block():
    """A pixel whose source lies in a differently-moving block inherits that block's history."""
    prev = np.zeros((8, 8, 2), np.int16)
    prev[:, 4:] = [10, 0]                      # right half moved earlier
    step = np.zeros((8, 8, 2), np.int16)
    step[:, :4] = [8, 0]                       # left half now reads 4 px to the right (from the right half)
    out = motion.compose(prev, step)
    assert (out[:, :4, 0] == 18).all() and (out[:, 4:, 0] == 10).all()


def test_predict_half_pel_is_mean_of_neighbours_and_border_is_clamped():
    ref = np.zeros((1, 4, 4, 4), np.uint8)
    ref[0, ..., 0] = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    up = motion.upsample_halfpel(ref)
    disp = np.zeros((1, 4, 4, 2), np.int32)
    disp[..., 0] = 1  # +0.5 px in x
    pred = motion.predict(up, disp)[0, ..., 0].astype(int)
    r = ref[0, ..., 0].astype(int)
    assert (pred[:, :3] == (r[:, :3] + r[:, 1:] + 1) // 2).all()
    assert (pred[:, 3] == r[:, 3]).all()  # beyond the right edge: border pixel
    disp[..., 0], disp[..., 1] = 1, 1
    pred = motion.predict(up, disp)[0, ..., 0].astype(int)
    assert pred[0, 0] == (r[0, 0] + r[0, 1] + r[1, 0] + r[1, 1] + 2) // 4
    disp[..., 0], disp[..., 1] = -20, 0  # far out of frame: clamped to column 0
    assert (motion.predict(up, disp)[0, ..., 0] == ref[0, :, :1, 0]).all()


def test_predict_reads_the_requested_reference():
    refs = np.zeros((3, 4, 4, 4), np.uint8)
    refs[:, ..., 1] = np.array([5, 50, 200], np.uint8)[:, None, None]
    out = motion.predict(motion.upsample_halfpel(refs), np.zeros((3, 4, 4, 2), np.int32), np.array([2, 0, 1]))
    assert (out[..., 1] == np.array([200, 5, 50])[:, None, None]).all()


def test_yuv_difference_matches_swscale_rgb_difference():
    """The 3x3 matrix applied to a YUV difference equals the difference of swscale's RGB conversions."""
    rng = np.random.default_rng(0)
    yuv = np.concatenate([rng.integers(60, 180, (2, 16, 16, 1)), rng.integers(100, 156, (2, 16, 16, 2))], -1)
    yuv = yuv.astype(np.uint8)
    rgbs = []
    for img in yuv:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img.transpose(2, 0, 1)), format="yuv444p")
        rgbs.append(frame.to_ndarray(format="rgb24").astype(int))
    got = motion.yuv_difference_to_rgb(yuv[1].astype(np.int16) - yuv[0].astype(np.int16)).astype(int)
    want = rgbs[1] - rgbs[0]
    inside = (rgbs[0] > 3).all(-1) & (rgbs[0] < 252).all(-1) & (rgbs[1] > 3).all(-1) & (rgbs[1] < 252).all(-1)
    assert inside.mean() > 0.8
    assert np.abs(got - want)[inside].max() <= 2


def test_to_cells_is_the_cell_mean():
    f = np.arange(8 * 8 * 2, dtype=np.int16).reshape(8, 8, 2)
    want = f.reshape(2, 4, 2, 4, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(motion.to_cells(f), want)
    np.testing.assert_array_equal(motion.to_pixels(motion.to_cells(f))[::4, ::4], want)
