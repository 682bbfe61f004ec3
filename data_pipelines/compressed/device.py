"""The dense compressed-domain maths as one jitted JAX function, batched over GOPs of many clips.

Why: on a GPU host the numpy extraction (vector rasterisation, accumulation, half-pel upsampling, motion
compensation, YUV->RGB of the residual) is single-threaded per-pixel work that costs ~25x the model.
Here the host only decodes (PyAV: yuv420p planes + the raw motion-vector side data) and packs compact
arrays; everything per-pixel runs on the device, for a whole batch of clips in one call.

What crosses host -> device, per batch (:func:`pack_gops`, :func:`collate`):

* ``records`` uint8 [N, 40] + ``record_frame`` int32 [N]: every P-frame's motion vectors as FFmpeg
  exports them (``AVMotionVector``, 40 bytes each, only the ones present: ~50 per frame at 112²), joined
  without parsing, and the (GOP, P slot) each belongs to; parsed and rasterised on the device.
* ``refs`` uint8 [Rr, 3H/2, W]: reference planes (each GOP's I-frame in ``accumulate`` mode; the
  previous frame of each residual frame in ``frame`` mode), ``cur`` uint8 [R, 3H/2, W]: the P-frames whose
  residuals are wanted, with ``ref_index`` / ``gop_index`` / ``slot`` int32 [R] saying which reference,
  GOP and P slot each reads; ``frame_types`` uint8 [G, gop].

At 112² and K = 3 residuals per 32-frame clip that is ~180 KB per clip; only the I-frames and the
K residual frames are copied out of the decoder (``decode_gops(keep_planes=...)``). Results equal the
numpy path exactly: integer maths throughout, and the float BT.601 chroma terms are looked up in tables
that numpy computes with the numpy path's own float32 expressions, so fused multiply-adds on the device
cannot change a rounding. I-frame RGB stays on the host (swscale, one frame per GOP): a BT.601 float
conversion differs from swscale's fixed point by up to 3.

JAX is imported only when a device function is built, so PyAV-only users of the package never load it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from data_pipelines.compressed import motion
from data_pipelines.compressed.clip import FRAME_I, FRAME_P

SPAN = 4  # cells per block side at most: MPEG-4 blocks are 16x16 or 8x8 pixels
BACKENDS = ("numpy", "jax")


def default_backend() -> str:
    """``jax`` when JAX's default device is an accelerator, else ``numpy`` (faster on a CPU)."""
    try:
        import jax

        return "numpy" if jax.default_backend() == "cpu" else "jax"
    except ImportError:
        return "numpy"


def pack_records(mvs: Sequence[bytes | np.ndarray | None], first_frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """FFmpeg side data of N frames -> (raw records uint8 [B, 40], frame index int32 [B] = ``first_frame`` +
    position in ``mvs``): the bytes as exported, one join, no parsing (the device parses them)."""
    raw = [b"" if m is None else m if isinstance(m, bytes) else m.astype(motion.MV_DTYPE).tobytes() for m in mvs]
    size = motion.MV_DTYPE.itemsize
    counts = [len(r) // size for r in raw]
    records = np.frombuffer(b"".join(raw), np.uint8).reshape(-1, size)
    if len(records):
        view = records.view(motion.MV_DTYPE)[:, 0]
        if int(view["w"].max()) > SPAN * motion.CELL or int(view["h"].max()) > SPAN * motion.CELL:
            raise ValueError(f"motion blocks larger than {SPAN * motion.CELL} px (not MPEG-4 Part 2)")
    return records, np.repeat(np.arange(first_frame, first_frame + len(mvs), dtype=np.int32), counts)


def needed_planes(n_frames: int, gop: int, mode: str, residual_frames) -> set[int] | None:
    """Frame indices whose decoded planes the device needs (``decode_gops(keep_planes=...)``): I-frames
    (accumulate) or predecessors (frame) and the residual frames; ``None`` = all."""
    if residual_frames is None:
        return None
    wanted = {int(t) for t in np.asarray(residual_frames).reshape(-1) if 0 <= t < n_frames and t % gop}
    refs = {t - t % gop for t in wanted} if mode == "accumulate" else {t - 1 for t in wanted}
    return wanted | refs


def pack_gops(gops: Sequence[Any], *, gop: int, mode: str = "accumulate",
              residual_frames: np.ndarray | Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """One clip's decoded GOPs (``decode.Gop``, yuv planes) -> its compact host arrays.

    ``residual_frames``: frame indices whose residuals are wanted (``None``: every P-frame); I-frames and
    indices past the end are ignored, as in ``extract_stream``. Raises ``NotCanonical`` for B-frames."""
    from data_pipelines.compressed.decode import NotCanonical

    if mode not in ("accumulate", "frame"):
        raise ValueError(f"mode must be 'accumulate' or 'frame', got {mode!r}")
    h, w = gops[0].height, gops[0].width
    wanted = None if residual_frames is None else np.unique(np.asarray(residual_frames, np.int64))
    types = np.zeros((len(gops), gop), np.uint8)
    pts = np.full((len(gops), gop), -1, np.int64)
    records, record_frame = [], []
    refs, cur, ref_index, gop_index, slot = [], [], [], [], []
    for gi, g in enumerate(gops):
        p_real = len(g.planes) - 1
        types[gi, 0], types[gi, 1 : p_real + 1] = FRAME_I, FRAME_P
        pts[gi, : p_real + 1] = g.pts
        if p_real and motion.refers_to_future(g.mvs):
            raise NotCanonical(f"frames {g.pts[1]}..{g.pts[-1]}: vectors refer to a future frame (B-frames)")
        rec, frame = pack_records(g.mvs, gi * (gop - 1))
        records.append(rec)
        record_frame.append(frame)
        if mode == "accumulate":
            refs.append(g.planes[0] if g.planes[0] is not None else np.zeros((h * 3 // 2, w), np.uint8))
        slots = range(p_real) if wanted is None else [
            int(t) - gi * gop - 1 for t in wanted if gi * gop < t < gi * gop + 1 + p_real]
        for s in slots:
            cur.append(g.planes[1 + s])
            gop_index.append(gi)
            slot.append(s)
            if mode == "frame":
                refs.append(g.planes[s])
            ref_index.append(gi if mode == "accumulate" else len(refs) - 1)
    planes = lambda xs: np.stack(xs) if xs else np.zeros((0, h * 3 // 2, w), np.uint8)  # noqa: E731
    i32 = lambda xs: np.asarray(xs, np.int32).reshape(-1)  # noqa: E731
    return {"records": np.concatenate(records), "record_frame": np.concatenate(record_frame),
            "refs": planes(refs), "cur": planes(cur), "ref_index": i32(ref_index),
            "gop_index": i32(gop_index), "slot": i32(slot), "frame_types": types, "pts": pts}


def bucket(n: int) -> int:
    """Padded length for ``n`` rows: a power of two up to 64, then a multiple of 64 (few compiled shapes)."""
    return 1 << max(0, n - 1).bit_length() if n <= 64 else -(-n // 64) * 64


def collate(packs: Sequence[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], list[dict[str, slice]]]:
    """Concatenate clips' packs (indices offset) and pad the GOP / reference / residual axes to
    :func:`bucket` sizes. Returns (batch, per-clip ``{"gops", "rows"}`` slices into the outputs)."""
    spans, g0, r0, rr0, n0 = [], 0, 0, 0, 0
    keys = ("records", "record_frame", "refs", "cur", "ref_index", "gop_index", "slot", "frame_types", "pts")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for p in packs:
        g, r, rr = len(p["frame_types"]), len(p["cur"]), len(p["refs"])
        offset = {"ref_index": rr0, "gop_index": g0, "record_frame": g0 * (p["frame_types"].shape[1] - 1)}
        for k in keys:
            parts[k].append(p[k] + offset[k] if k in offset else p[k])
        spans.append({"gops": slice(g0, g0 + g), "rows": slice(r0, r0 + r)})
        g0, r0, rr0, n0 = g0 + g, r0 + r, rr0 + rr, n0 + len(p["records"])
    batch = {k: np.concatenate(v) for k, v in parts.items()}
    axes = {"frame_types": g0, "pts": g0, "refs": rr0, "cur": r0, "ref_index": r0, "gop_index": r0, "slot": r0,
            "records": n0, "record_frame": n0}  # padding records are all zero: w = h = 0 covers no cell
    for k, n in axes.items():
        target = bucket(max(n, 1))
        if target > n:
            pad = np.zeros((target - n, *batch[k].shape[1:]), batch[k].dtype)
            batch[k] = np.concatenate([batch[k], pad])
    return batch, spans


def chroma_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int16 lookup tables of the rounded chroma terms of :func:`motion.yuv_difference_to_rgb`, computed
    with the same float32 expressions: R[v], G[u, v] (flattened, u major), B[u] for u, v in -255..255."""
    d = np.arange(-255, 256).astype(np.float32)
    r = np.rint(motion._KRV * d).astype(np.int16)
    g = np.rint(motion._KGU * d[:, None] + motion._KGV * d[None, :]).astype(np.int16).reshape(-1)
    b = np.rint(motion._KBU * d).astype(np.int16)
    return r, g, b


@functools.lru_cache(maxsize=None)
def extractor(height: int, width: int, mode: str = "accumulate"):
    """The jitted ``batch -> {"motion_vectors" f16 [G, P, H/4, W/4, 2], "residuals" i16 [R, H, W, 3]}``."""
    import jax
    import jax.numpy as jnp

    from data_pipelines.compressed import device_ops as ops

    tables = tuple(jnp.asarray(t) for t in chroma_tables())

    def run(records, record_frame, refs, ref_index, cur, gop_index, slot, frame_types):
        steps = ops.rasterise(records, record_frame, frame_types.shape, height, width)
        disp = ops.accumulate(steps) if mode == "accumulate" else steps
        disp = jnp.where((frame_types[:, 1:] == FRAME_P)[..., None, None, None], disp, 0)
        d = disp[gop_index, slot].astype(jnp.int32)
        res = ops.residual_rgb(refs, ref_index, cur, d, height, width, tables)
        mvs = (disp.astype(jnp.float32) * 0.5).astype(jnp.float16)
        return {"motion_vectors": mvs, "residuals": res}

    jitted = jax.jit(run)

    def call(batch: dict[str, Any]) -> dict[str, Any]:
        return jitted(*(batch[k] for k in ("records", "record_frame", "refs", "ref_index", "cur", "gop_index", "slot",
                                          "frame_types")))

    return call


def to_contract(out: dict[str, Any], batch: dict[str, np.ndarray], spans: list[dict[str, slice]],
                gop: int) -> list[dict[str, np.ndarray]]:
    """Device outputs of a collated batch -> per clip, the numpy path's contract arrays (residuals
    int16 [G, P, H, W, 3], zero where not computed; motion_vectors; frame_types; pts)."""
    mvs, res = np.asarray(out["motion_vectors"]), np.asarray(out["residuals"])
    clips = []
    for sp in spans:
        g0 = sp["gops"].start
        full = np.zeros((sp["gops"].stop - g0, gop - 1, *res.shape[1:]), np.int16)
        rows = np.arange(sp["rows"].start, sp["rows"].stop)
        full[batch["gop_index"][rows] - g0, batch["slot"][rows]] = res[rows]
        clips.append({"motion_vectors": mvs[sp["gops"]], "residuals": full,
                      "frame_types": batch["frame_types"][sp["gops"]], "pts": batch["pts"][sp["gops"]]})
    return clips
