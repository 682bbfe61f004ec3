"""Unit tests of the vectorised motion maths (no video involved)."""

import av
import numpy as np

from data_pipelines.compressed import motion


def _mvs(rows):
    """rows of (w, h, dst_x, dst_y, motion_x, motion_y, motion_scale, source)."""
    a = np.zeros(len(rows), motion.MV_DTYPE)
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
    np.testing.assert_array_equal(motion.block_fields([None, mvs.tobytes()], 32)[1], f[0])  # raw side data
    assert motion.refers_to_future([mvs.tobytes()]) and not motion.refers_to_future([mvs[:3].tobytes(), None])
    assert (f[0, 0:4, 0:4] == [-3, 2]).all()
    assert (f[0, 0:2, 4:6] == [1, 0]).all() and (f[0, 2:4, 4:6] == 0).all()
    assert (f[0, 4:8, 4:8] == [2, 2]).all()
    assert (f[0, 4:8, 0:4] == 0).all()  # intra / unlisted / future-ref blocks: zero motion
    assert (f[1] == 0).all()


def test_accumulate_of_translations_adds_up_exactly():
    steps = np.zeros((5, 8, 8, 2), np.int16)
    steps[..., 0], steps[..., 1] = -3, 2  # -1.5 px, +1 px per frame (half-pel units)
    acc = motion.accumulate(steps)
    for t in range(5):
        inner = acc[t, 3:5, 3:5]
        assert (inner[..., 0] == -3 * (t + 1)).all() and (inner[..., 1] == 2 * (t + 1)).all()


def test_accumulate_follows_the_source_block():
    """A cell whose source lies in a differently-moving block inherits that block's history."""
    steps = np.zeros((2, 4, 4, 2), np.int16)
    steps[0, :, 2:] = [10, 0]                   # frame 1: the right half reads 5 px to the right
    steps[1, :, :2] = [16, 0]                   # frame 2: the left half reads 8 px (2 cells) to the right
    acc = motion.accumulate(steps)
    assert (acc[0, :, 2:, 0] == 10).all() and (acc[0, :, :2, 0] == 0).all()
    assert (acc[1, :, :2, 0] == 26).all() and (acc[1, :, 2:, 0] == 10).all()


def _reference_prediction(ref, disp_px):
    """Per-pixel half-pel prediction written plainly: rounded mean of neighbours, border clamping."""
    h, w = ref.shape
    r = ref.astype(int)
    out = np.zeros((h, w), int)
    for y in range(h):
        for x in range(w):
            qy = min(max(2 * y + disp_px[y, x, 1], 0), 2 * h - 2)
            qx = min(max(2 * x + disp_px[y, x, 0], 0), 2 * w - 2)
            ys, xs = {qy // 2, (qy + 1) // 2}, {qx // 2, (qx + 1) // 2}
            vals = [r[a, b] for a in ys for b in xs]
            out[y, x] = (sum(vals) + len(vals) // 2) // len(vals)
    return out


def test_predict_matches_plain_per_pixel_reference_including_far_out_of_frame():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, (2, 16, 16)).astype(np.uint8)
    disp = rng.integers(-40, 40, (3, 4, 4, 2)).astype(np.int16)  # up to 20 px: many cells leave the frame
    disp[0] = 0
    ref_index = np.array([1, 0, 1])
    got = motion.predict(motion.upsample_halfpel(ref), motion.gather_index(disp, 16, ref_index))
    for i in range(3):
        px = np.repeat(np.repeat(disp[i], 4, axis=0), 4, axis=1)
        np.testing.assert_array_equal(got[i], _reference_prediction(ref[ref_index[i]], px))


def test_predict_gathers_multichannel_pixels_whole():
    refs = np.zeros((3, 8, 8, 4), np.uint8)
    refs[..., 1] = np.array([5, 50, 200], np.uint8)[:, None, None]
    refs[..., 2] = 7
    idx = motion.gather_index(np.zeros((3, 2, 2, 2), np.int16), 8, np.array([2, 0, 1]))
    out = motion.predict(motion.upsample_halfpel(refs, channel_axis=True), idx)
    assert out.shape == (3, 8, 8, 4)
    assert (out[..., 1] == np.array([200, 5, 50])[:, None, None]).all() and (out[..., 2] == 7).all()


def test_chroma_displacement_uses_mpeg4_rounding():
    d = np.array([-3, -2, -1, 0, 1, 2, 3, 4, 5], np.int16)
    # luma half-pel -> chroma half-pel: halve, fractions go to the half-pel position
    assert motion.chroma_displacement(d).tolist() == [-1, -1, -1, 0, 1, 1, 1, 2, 3]


def test_yuv_difference_matches_swscale_rgb_difference():
    """The 3x3 matrix applied to a YUV difference equals the difference of swscale's RGB conversions."""
    rng = np.random.default_rng(0)
    yuv = np.concatenate([rng.integers(60, 180, (2, 16, 16, 1)), rng.integers(100, 156, (2, 16, 16, 2))], -1)
    yuv = yuv.astype(np.uint8)
    d = yuv[1].astype(np.int16) - yuv[0].astype(np.int16)
    # 4:2:0 chroma: use constant 2x2 chroma blocks so that the full-size conversion is comparable
    d[..., 1:] = np.repeat(np.repeat(d[::2, ::2, 1:], 2, 0), 2, 1)
    yuv[1, ..., 1:] = (yuv[0, ..., 1:].astype(np.int16) + d[..., 1:]).astype(np.uint8)
    rgbs = []
    for img in yuv:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img.transpose(2, 0, 1)), format="yuv444p")
        rgbs.append(frame.to_ndarray(format="rgb24").astype(int))
    got = motion.yuv_difference_to_rgb(d[..., 0], d[::2, ::2, 1:]).astype(int)
    want = rgbs[1] - rgbs[0]
    inside = (rgbs[0] > 3).all(-1) & (rgbs[0] < 252).all(-1) & (rgbs[1] > 3).all(-1) & (rgbs[1] < 252).all(-1)
    assert inside.mean() > 0.8
    assert np.abs(got - want)[inside].max() <= 2
