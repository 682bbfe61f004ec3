"""JAX counterparts of :mod:`.motion`'s numpy maths, line for line (imports JAX: load it via :mod:`.device`).

Every function mirrors a numpy function of :mod:`.motion` with the same integer arithmetic, so results
are bit-identical; the numpy docstrings explain the maths.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from data_pipelines.compressed.motion import CELL, MARGIN

SPAN = 4  # cells per block side at most (16 px)


def parse_records(raw: jax.Array) -> tuple[jax.Array, ...]:
    """uint8 [N, 40] FFmpeg ``AVMotionVector`` records (little-endian) -> int32 (keep, half-pel x, half-pel y,
    first cell x, first cell y, block w, block h): :func:`motion.parse_records` + :func:`motion.record_fields`.
    ``keep``: a past reference (source < 0) and a real block (w > 0; zero rows are padding)."""
    b = raw.astype(jnp.int32)
    u16 = lambda o: b[:, o] | (b[:, o + 1] << 8)  # noqa: E731
    s16 = lambda o: (u16(o) ^ 0x8000) - 0x8000  # noqa: E731
    s32 = lambda o: u16(o) | (u16(o + 2) << 16)  # noqa: E731  (int32 wrap-around gives the sign)
    source, bw, bh = s32(0), b[:, 4], b[:, 5]
    scale = jnp.maximum(u16(32), 1).astype(jnp.float32)
    hx = jnp.rint(s32(24).astype(jnp.float32) * 2 / scale).astype(jnp.int32)
    hy = jnp.rint(s32(28).astype(jnp.float32) * 2 / scale).astype(jnp.int32)
    x0 = (s16(10) - bw // 2) // CELL
    y0 = (s16(12) - bh // 2) // CELL
    return (source < 0) & (bw > 0), hx, hy, x0, y0, bw, bh


def rasterise(raw: jax.Array, frame: jax.Array, gop_shape: tuple[int, int], height: int, width: int) -> jax.Array:
    """Raw records uint8 [N, 40] of frames ``frame`` int32 [N] (GOP * P + slot) -> int16
    [G, P, H/4, W/4, 2] half-pel cell fields (:func:`motion.block_fields`); cells outside the frame drop."""
    g, p = gop_shape[0], gop_shape[1] - 1
    ny, nx = height // CELL, width // CELL
    keep, hx, hy, x0, y0, bw, bh = parse_records(raw)
    o = jnp.arange(SPAN, dtype=jnp.int32)
    shape = (raw.shape[0], SPAN, SPAN)
    cy = jnp.broadcast_to(y0[:, None, None] + o[:, None], shape)
    cx = jnp.broadcast_to(x0[:, None, None] + o[None, :], shape)
    inside = (o[:, None] * CELL < bh[:, None, None]) & (o[None, :] * CELL < bw[:, None, None]) & keep[:, None, None]
    inside &= (cy >= 0) & (cy < ny) & (cx >= 0) & (cx < nx)
    cy, cx = jnp.where(inside, cy, ny), jnp.where(inside, cx, nx)  # out of range: dropped by the scatter
    f = jnp.broadcast_to(frame[:, None, None], shape)
    vals = jnp.broadcast_to(jnp.stack([hx, hy], -1).astype(jnp.int16)[:, None, None, :], (*shape, 2))
    field = jnp.zeros((g * p, ny, nx, 2), jnp.int16).at[f, cy, cx].set(vals, mode="drop")
    return field.reshape(g, p, ny, nx, 2)


def accumulate(steps: jax.Array) -> jax.Array:
    """[G, P, n_y, n_x, 2] per-frame fields -> fields relative to each GOP's I-frame (:func:`motion.accumulate`),
    a scan over the P axis, vectorised over GOPs."""
    g, p, ny, nx = steps.shape[:4]
    cy = jnp.arange(ny, dtype=jnp.int32) * (2 * CELL) + CELL
    cx = jnp.arange(nx, dtype=jnp.int32) * (2 * CELL) + CELL

    def body(prev, step):  # prev [G, ny * nx, 2], step [G, ny, nx, 2]
        sy = jnp.clip((cy[:, None] + step[..., 1].astype(jnp.int32)) // (2 * CELL), 0, ny - 1)
        sx = jnp.clip((cx[None, :] + step[..., 0].astype(jnp.int32)) // (2 * CELL), 0, nx - 1)
        src = jnp.take_along_axis(prev, (sy * nx + sx).reshape(g, ny * nx, 1), axis=1)
        out = step + src.reshape(g, ny, nx, 2)
        return out.reshape(g, ny * nx, 2), out

    _, outs = jax.lax.scan(body, jnp.zeros((g, ny * nx, 2), steps.dtype), jnp.moveaxis(steps, 1, 0))
    return jnp.moveaxis(outs, 0, 1)


def upsample_halfpel(ref: jax.Array) -> jax.Array:
    """uint8 [N, H, W, C] -> [N, 2H-1+2M, 2W-1+2M, C] (:func:`motion.upsample_halfpel`)."""
    n, h, w, c = ref.shape
    r = ref.astype(jnp.uint16)
    horiz = ((r[:, :, :-1] + r[:, :, 1:] + 1) >> 1).astype(jnp.uint8)
    vert = ((r[:, :-1] + r[:, 1:] + 1) >> 1).astype(jnp.uint8)
    diag = ((r[:, :-1, :-1] + r[:, 1:, :-1] + r[:, :-1, 1:] + r[:, 1:, 1:] + 2) >> 2).astype(jnp.uint8)

    def interleave(a, b, axis):  # a has one more entry than b along axis
        b = jnp.concatenate([b, jnp.zeros_like(jax.lax.slice_in_dim(a, 0, 1, axis=axis))], axis=axis)
        both = jnp.stack([a, b], axis=axis + 1)
        shape = list(a.shape)
        shape[axis] *= 2
        return jax.lax.slice_in_dim(both.reshape(shape), 0, shape[axis] - 1, axis=axis)

    even = interleave(ref, horiz, 2)  # [N, H, 2W-1, C]
    odd = interleave(vert, diag, 2)  # [N, H-1, 2W-1, C]
    core = interleave(even, odd, 1)
    m = MARGIN
    return jnp.pad(core, ((0, 0), (m, m), (m, m), (0, 0)), mode="edge")


def gather_index(disp: jax.Array, height: int, width: int, ref_index: jax.Array) -> jax.Array:
    """int32 [R, H/k, W/k, 2] half-pel cell displacements -> flat indices [R, H, W] into the stacked upsampled
    references (:func:`motion.gather_index`, per-cell clamping that equals per-pixel border clamping)."""
    ny, nx = disp.shape[1:3]
    k, m = height // ny, MARGIN
    side_h, side_w = 2 * height - 1 + 2 * m, 2 * width - 1 + 2 * m

    def limits(length, cells):
        first = 2 * k * jnp.arange(cells, dtype=jnp.int32)
        return -(first + m), 2 * length - 2 + m - (first + 2 * (k - 1))

    (lo_y, hi_y), (lo_x, hi_x) = limits(height, ny), limits(width, nx)
    dy = jnp.clip(disp[..., 1], lo_y[:, None], hi_y[:, None])
    dx = jnp.clip(disp[..., 0], lo_x[None, :], hi_x[None, :])
    off = dy * side_w + dx + (ref_index.astype(jnp.int32) * (side_h * side_w))[:, None, None]
    off = jnp.repeat(jnp.repeat(off, k, axis=1), k, axis=2)
    rows, cols = 2 * jnp.arange(height, dtype=jnp.int32) + m, 2 * jnp.arange(width, dtype=jnp.int32) + m
    base = rows[:, None] * side_w + cols
    return off + base


def split_yuv(planes: jax.Array, height: int) -> tuple[jax.Array, jax.Array]:
    """[N, 3H/2, W] packed yuv420p -> Y [N, H, W, 1] and interleaved UV [N, H/2, W/2, 2]."""
    n, w = planes.shape[0], planes.shape[2]
    uv = planes[:, height:].reshape(n, 2, height // 2, w // 2)
    return planes[:, :height, :, None], jnp.moveaxis(uv, 1, 3)


def residual_rgb(refs, ref_index, cur, disp, height: int, width: int, tables) -> jax.Array:
    """RGB residual int16 [R, H, W, 3] of ``cur`` against its motion-compensated reference: luma with
    ``disp``, chroma with MPEG-4's chroma vectors, then :func:`motion.yuv_difference_to_rgb`."""
    ref_y, ref_uv = split_yuv(refs, height)
    cur_y, cur_uv = split_yuv(cur, height)
    up_y = upsample_halfpel(ref_y).reshape(-1)
    pred_y = up_y[gather_index(disp, height, width, ref_index)]
    cdisp = (disp >> 1) | (disp & 1)  # motion.chroma_displacement
    up_uv = upsample_halfpel(ref_uv).reshape(-1, 2)
    pred_uv = up_uv[gather_index(cdisp, height // 2, width // 2, ref_index)]
    dy = cur_y[..., 0].astype(jnp.int16) - pred_y.astype(jnp.int16)
    duv = cur_uv.astype(jnp.int16) - pred_uv.astype(jnp.int16)
    return yuv_difference_to_rgb(dy, duv, tables)


def yuv_difference_to_rgb(dy: jax.Array, duv: jax.Array, tables) -> jax.Array:
    """int16 dY [..., H, W], dUV [..., H/2, W/2, 2] -> RGB difference int16 [..., H, W, 3]
    (:func:`motion.yuv_difference_to_rgb`; its float32 chroma terms come from ``device.chroma_tables``)."""
    tab_r, tab_g, tab_b = tables
    y = dy * jnp.int16(42)
    y = ((y + jnp.int16(128)) >> 8) + dy
    u = duv[..., 0].astype(jnp.int32) + 255
    v = duv[..., 1].astype(jnp.int32) + 255
    terms = (tab_r[v], tab_g[u * 511 + v], tab_b[u])
    full = [jnp.repeat(jnp.repeat(t, 2, axis=-2), 2, axis=-1) for t in terms]
    return jnp.clip(jnp.stack([y + f for f in full], -1), -255, 255)
