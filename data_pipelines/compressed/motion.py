"""Dense motion-vector fields and motion-compensated residuals, vectorised over pixels and frames.

Everything works on integer *half-pel* displacements (MPEG-4 Part 2 motion is half-pel), which turns
sub-pixel motion compensation into one gather from a 2x-upsampled reference: each reference is upsampled
once with the codec's own half-pel rule (rounded mean of the 2 or 4 neighbours), after which every
displaced sample is a plain integer index. That is exact for half-pel motion and several times cheaper
than a general bilinear warp (four gathers and weights per sample).

Motion is kept per 4x4-pixel *cell* (MPEG-4 blocks are 16x16, or 8x8 with 4MV, so a cell never straddles
two blocks): per-pixel index arithmetic is done separably (rows and columns per cell, one broadcast add
per pixel), and accumulation composes cell fields, 16x less work than composing pixel fields.

Displacement convention (shared with the package docstring): ``d = source - destination``, i.e. the
pixel at ``p`` in the current frame is predicted from position ``p + d`` in the reference. Positions
outside the frame are clamped to the border (the codec's edge extension).
"""

from __future__ import annotations

import numpy as np

CELL = 4  # motion fields are stored at S/4: one vector per 4x4 pixels

# FFmpeg's AVMotionVector (libavutil/motion_vector.h), the record PyAV's side data holds; reading the raw
# side-data bytes with this dtype skips PyAV's per-frame array construction.
MV_DTYPE = np.dtype({
    "names": ["source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "flags", "motion_x", "motion_y",
              "motion_scale"],
    "formats": ["<i4", "u1", "u1", "<i2", "<i2", "<i2", "<i2", "<u8", "<i4", "<i4", "<u2"],
    "offsets": [0, 4, 5, 6, 8, 10, 12, 16, 24, 28, 32], "itemsize": 40, "aligned": True})


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """``size`` (square side) or (height, width) -> (height, width)."""
    return (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def parse_records(mvs: list[np.ndarray | bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Raw side data of N frames -> (frame index [B], MV_DTYPE records [B]) of the past-reference vectors.

    Future references (B-frames) are dropped here; ``refers_to_future`` rejects such streams earlier."""
    raw = [b"" if m is None else m if isinstance(m, bytes) else m.astype(MV_DTYPE).tobytes() for m in mvs]
    counts = [len(r) // MV_DTYPE.itemsize for r in raw]
    frame = np.repeat(np.arange(len(mvs), dtype=np.int32), counts)
    # Join as raw records: np.concatenate on aligned structured dtypes is ~10x slower.
    m = np.frombuffer(b"".join(raw), dtype=MV_DTYPE)
    keep = m["source"] < 0
    return frame[keep], m[keep]


def record_fields(m: np.ndarray) -> tuple[np.ndarray, ...]:
    """MV_DTYPE records -> int32 (half-pel x, half-pel y, first cell x, first cell y, width, height in px).

    Quarter-pel (or any other scale) is rounded to half-pel; the first cell is the block's top-left 4x4 cell
    (may lie outside the frame for edge blocks: rasterisers drop those cells)."""
    scale = m["motion_scale"].astype(np.int32).clip(min=1)
    hx = np.rint(m["motion_x"] * 2 / scale).astype(np.int32)
    hy = np.rint(m["motion_y"] * 2 / scale).astype(np.int32)
    bw, bh = m["w"].astype(np.int32), m["h"].astype(np.int32)
    x0 = (m["dst_x"].astype(np.int32) - bw // 2) // CELL
    y0 = (m["dst_y"].astype(np.int32) - bh // 2) // CELL
    return hx, hy, x0, y0, bw, bh


def block_fields(mvs: list[np.ndarray | bytes | None], size: int | tuple[int, int]) -> np.ndarray:
    """Rasterise codec motion vectors of N frames into an int16 [N, H/4, W/4, 2] half-pel (x, y) field.

    Each entry of ``mvs`` is what FFmpeg exports for one frame (``frame.side_data``): a ``MV_DTYPE``
    array, its raw bytes, or ``None``. All frames are rasterised in one vectorised pass. Intra-coded blocks export no vector and
    keep 0 (predicted from the co-located reference pixels). Quarter-pel vectors (an MPEG-4 ASP option
    that our canonical encode never uses) are rounded to half-pel. ``size``: side, or (height, width).
    """
    h, w = _hw(size)
    ny, nx = h // CELL, w // CELL
    field = np.zeros((len(mvs), ny, nx, 2), np.int16)
    frame, m = parse_records(mvs)
    if not len(m):
        return field
    hx, hy, x0, y0, bw, bh = record_fields(m)
    span = max(1, int(max(bw.max(), bh.max())) // CELL)
    oy, ox = np.meshgrid(np.arange(span), np.arange(span), indexing="ij")
    cy = y0[:, None, None] + oy  # [B, span, span] cells covered by each block
    cx = x0[:, None, None] + ox
    inside = (oy * CELL < bh[:, None, None]) & (ox * CELL < bw[:, None, None])
    inside &= (cy >= 0) & (cy < ny) & (cx >= 0) & (cx < nx)
    block = np.broadcast_to(np.arange(len(m))[:, None, None], inside.shape)[inside]
    f, y, x = frame[block], cy[inside], cx[inside]
    field[f, y, x, 0] = hx[block]
    field[f, y, x, 1] = hy[block]
    return field


def refers_to_future(mvs: list[bytes | None]) -> bool:
    """Whether any vector predicts from a later frame (a B-frame: the stream is not canonical)."""
    raw = b"".join(m for m in mvs if m)
    return bool(raw) and bool((np.frombuffer(raw, dtype=MV_DTYPE)["source"] > 0).any())


def accumulate(steps: np.ndarray) -> np.ndarray:
    """Trace every cell back to the I-frame: ``D_t(c) = d_t(c) + D_{t-1}(cell under c's centre + d_t)``.

    ``steps`` [P, n, n, 2] are per-frame half-pel cell fields (each relative to the previous frame); the
    result [P, n, n, 2] is relative to the GOP's first frame. ``D_{t-1}`` is read at the cell containing
    the displaced centre of the cell (fields are constant per block, so interpolating them would only blur
    block edges); the sub-pixel part of ``d_t`` is kept exactly, so a pure translation composes exactly.
    """
    p, ny, nx = steps.shape[:3]
    cy = np.arange(ny, dtype=np.int32) * (2 * CELL) + CELL  # cell centres in half-pel units
    cx = np.arange(nx, dtype=np.int32) * (2 * CELL) + CELL
    out = np.empty_like(steps)
    prev = np.zeros((ny * nx, 2), np.int16)
    for t in range(p):
        step = steps[t]
        sy = np.minimum(np.maximum((cy[:, None] + step[..., 1]) // (2 * CELL), 0), ny - 1)
        sx = np.minimum(np.maximum((cx[None, :] + step[..., 0]) // (2 * CELL), 0), nx - 1)
        out[t] = step + prev[sy * nx + sx]
        prev = out[t].reshape(ny * nx, 2)
    return out


def chroma_displacement(disp: np.ndarray) -> np.ndarray:
    """Luma half-pel displacement -> 4:2:0 chroma half-pel displacement, MPEG-4's rule ``(d >> 1) | (d & 1)``
    (halve, rounding any fraction to the half-pel position)."""
    d = disp.astype(np.int32)
    return ((d >> 1) | (d & 1)).astype(np.int16)


MARGIN = 8  # half-pel units of edge padding around upsampled references; >= 2 * (cell - 1), see gather_index


def upsample_halfpel(ref: np.ndarray, channel_axis: bool = False) -> np.ndarray:
    """uint8 [..., H, W(, C)] -> [..., 2H-1+2M, 2W-1+2M(, C)]: half-pel samples (the rounded mean of the 2
    or 4 neighbours), edge-padded by ``MARGIN`` half-pel positions on every side."""
    if not channel_axis:
        return upsample_halfpel(ref[..., None], True)[..., 0]
    *lead, h, w, c = ref.shape
    m = MARGIN
    r = ref.astype(np.uint16)
    up = np.empty((*lead, 2 * h - 1 + 2 * m, 2 * w - 1 + 2 * m, c), np.uint8)
    core = up[..., m:-m, m:-m, :]
    core[..., 0::2, 0::2, :] = ref
    core[..., 0::2, 1::2, :] = (r[..., :, :-1, :] + r[..., :, 1:, :] + 1) >> 1
    core[..., 1::2, 0::2, :] = (r[..., :-1, :, :] + r[..., 1:, :, :] + 1) >> 1
    core[..., 1::2, 1::2, :] = (r[..., :-1, :-1, :] + r[..., 1:, :-1, :] + r[..., :-1, 1:, :] + r[..., 1:, 1:, :] + 2) >> 2
    up[..., :m, m:-m, :] = core[..., :1, :, :]
    up[..., -m:, m:-m, :] = core[..., -1:, :, :]
    up[..., :, :m, :] = up[..., :, m : m + 1, :]
    up[..., :, -m:, :] = up[..., :, -m - 1 : -m, :]
    return up


def gather_index(disp: np.ndarray, height: int, ref_index: np.ndarray | None = None,
                 width: int | None = None) -> np.ndarray:
    """Flat indices [N, H, W] into N stacked references from :func:`upsample_halfpel` (``width``: H).

    ``disp`` [N, H/k, W/k, 2] holds one half-pel displacement per cell of ``k = H / n`` pixels, clamped per
    cell so that the whole cell reads inside the padded reference. That is exactly per-pixel border
    clamping: a clamped cell lands entirely in the edge padding (``MARGIN >= 2 (k - 1)``), which repeats
    the border, just as the unclamped positions beyond the border would. Offsets are then expanded to
    pixels and added to a fixed base grid -- two cheap passes instead of per-pixel clamping arithmetic.
    ``ref_index`` [N] says which reference each frame reads (default: all read reference 0).
    """
    width = height if width is None else width
    num, ny = disp.shape[:2]
    k = height // ny
    m = MARGIN
    assert m >= 2 * (k - 1) and disp.shape[2] * k == width
    side_h, side_w = 2 * height - 1 + 2 * m, 2 * width - 1 + 2 * m

    def limits(length: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
        first = 2 * k * np.arange(cells, dtype=np.int32)  # half-pel position of each cell's first pixel
        return -(first + m), 2 * length - 2 + m - (first + 2 * (k - 1))

    (lo_y, hi_y), (lo_x, hi_x) = limits(height, ny), limits(width, disp.shape[2])
    dy = np.minimum(np.maximum(disp[..., 1].astype(np.int32), lo_y[:, None]), hi_y[:, None])
    dx = np.minimum(np.maximum(disp[..., 0].astype(np.int32), lo_x[None, :]), hi_x[None, :])
    off = dy * side_w + dx
    if ref_index is not None:
        off += (np.asarray(ref_index, np.int32) * (side_h * side_w))[:, None, None]
    base = (2 * np.arange(height, dtype=np.int32) + m)[:, None] * side_w + (2 * np.arange(width, dtype=np.int32) + m)
    return np.repeat(np.repeat(off, k, axis=1), k, axis=2) + base


def predict(refs_up: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Gather predictions: ``refs_up`` [R, H', W'(, C)] from :func:`upsample_halfpel`, ``index`` from
    :func:`gather_index`.

    Multi-channel references are gathered a whole pixel at a time by viewing its C uint8 as one uint16 (C=2)
    or uint32 (C=4): a single 1-D ``take`` is several times faster than a fancy index over two axes.
    """
    a = np.ascontiguousarray(refs_up)
    if a.ndim == 4:
        c = a.shape[-1]
        flat = a.view({2: np.uint16, 4: np.uint32}[c]).reshape(-1)
        return flat.take(index).view(np.uint8).reshape(*index.shape, c)
    return a.reshape(-1).take(index)


# BT.601 limited-range YUV -> RGB, the matrix swscale applies to untagged video. For *differences* the
# +16/+128 offsets cancel, so a YUV residual maps to RGB with the 3x3 part alone.
_KY, _KRV, _KGU, _KGV, _KBU = 1.164, 1.596, -0.392, -0.813, 2.017


def yuv_difference_to_rgb(dy: np.ndarray, duv: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(dY [..., H, W], dUV [..., H/2, W/2, 2]) int16 -> RGB difference [..., H, W, 3] int16 in [-255, 255].

    The luma term is computed in int16 as ``dY + (42 dY + 128) >> 8`` (no int32 pass over full-size data);
    the chroma terms are computed at chroma resolution and repeated 2x2. Each of the two
    terms is rounded separately, so results are within 1 of the exactly rounded conversion.
    """
    *lead, h, w = dy.shape
    if out is None:
        out = np.empty((*lead, h, w, 3), np.int16)
    y = dy * np.int16(42)
    y += np.int16(128)
    y >>= 8
    y += dy
    u = duv[..., 0].astype(np.float32)
    v = duv[..., 1].astype(np.float32)
    chroma = (_KRV * v, _KGU * u + _KGV * v, _KBU * u)
    for ch, term in enumerate(chroma):
        full = np.repeat(np.repeat(np.rint(term).astype(np.int16), 2, axis=-2), 2, axis=-1)
        np.add(y, full, out=out[..., ch])
    np.clip(out, -255, 255, out=out)
    return out
