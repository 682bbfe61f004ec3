"""``extract_file`` / ``extract_frames``: any video (or frame array) -> :class:`CompressedClip`."""

from __future__ import annotations

import os

import numpy as np

from data_pipelines.compressed import canonical
from data_pipelines.compressed.clip import CompressedClip, ExtractionError
from data_pipelines.compressed.decode import NotCanonical, decode_gops, gop_tensors

MODES = ("accumulate", "frame")


def _check_args(size: int, gop: int, mode: str, colour: str) -> None:
    if size <= 0 or size % 16:
        raise ValueError(f"size must be a positive multiple of 16 (whole macroblocks), got {size}")
    if not 2 <= gop <= 600:
        raise ValueError(f"gop must be in [2, 600], got {gop}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if colour not in ("yuv", "rgb"):
        raise ValueError(f"colour must be 'yuv' or 'rgb', got {colour!r}")


def extract_stream(
    source: bytes | str | os.PathLike, *, size: int, gop: int, mode: str = "accumulate", colour: str = "yuv",
    residual_frames: np.ndarray | list[int] | None = None, backend: str = "numpy",
) -> dict[str, np.ndarray]:
    """Contract arrays of a canonical stream; raises ``NotCanonical`` if it is not one.

    ``residual_frames`` (frame indices of the clip; ``None`` = all): compute residuals only for these
    P-frames, zeros elsewhere (inference: only the sampled segments are looked at). Indices that are
    I-frames or past the end are ignored. ``backend``: ``numpy`` (host; fastest on a CPU) or ``jax``
    (the per-pixel maths on JAX's default device, :mod:`.device`; the same numbers) or ``auto`` (``jax``
    when that device is an accelerator). ``colour="rgb"`` is numpy-only.
    """
    if backend == "auto":
        from data_pipelines.compressed.device import default_backend

        backend = default_backend()
    if backend == "jax":
        return _extract_stream_jax(source, size=size, gop=gop, mode=mode, colour=colour,
                                   residual_frames=residual_frames)
    if backend != "numpy":
        raise ValueError(f"backend must be 'numpy', 'jax' or 'auto', got {backend!r}")
    wanted = None if residual_frames is None else np.asarray(residual_frames, np.int64).reshape(-1)
    iframes, parts = [], []
    for gi, g in enumerate(decode_gops(source, size=size, gop=gop, colour=colour)):
        iframes.append(g.iframe_rgb)
        slots = None if wanted is None else wanted[(wanted > gi * gop) & (wanted < (gi + 1) * gop)] - gi * gop - 1
        parts.append(gop_tensors(g, gop=gop, mode=mode, colour=colour, residual_slots=slots))
    if not iframes:
        raise NotCanonical("no frames")
    out = {k: np.stack([p[k] for p in parts]) for k in parts[0]}
    out["iframes"] = np.stack(iframes)
    return out


def _extract_stream_jax(source, *, size, gop: int, mode: str, colour: str, residual_frames) -> dict[str, np.ndarray]:
    from data_pipelines.compressed import device

    if colour != "yuv":
        raise ValueError("backend='jax' computes residuals on the yuv planes: colour must be 'yuv'")
    keep = device.needed_planes(1 << 30, gop, mode, residual_frames)
    gops = list(decode_gops(source, size=size, gop=gop, colour="yuv", keep_planes=keep))
    if not gops:
        raise NotCanonical("no frames")
    pack = device.pack_gops(gops, gop=gop, mode=mode, residual_frames=residual_frames)
    batch, spans = device.collate([pack])
    (out,) = device.to_contract(device.extractor(gops[0].height, gops[0].width, mode)(batch), batch, spans, gop)
    out["iframes"] = np.stack([g.iframe_rgb for g in gops])
    return out


def _clip(arrays: dict, meta: dict) -> CompressedClip:
    meta = dict(meta, n_frames=int(np.count_nonzero(arrays["frame_types"])))
    return CompressedClip(meta=meta, **arrays)


def extract_file(
    path: str | os.PathLike,
    size: int = 112,
    gop: int = 12,
    fps: float | None = None,
    mode: str = "accumulate",
    crop_faces: bool = False,
    *,
    colour: str = "yuv",
    qscale: int = 2,
    detect_every: int = 5,
    detector: str = "auto",
    face_box: tuple[int, int, int] | None = None,
    residual_frames: np.ndarray | list[int] | None = None,
    backend: str = "numpy",
) -> CompressedClip:
    """Extract one video file. Inputs already canonical at this size/GOP (and fps, if given) are read
    as they are; everything else is re-encoded in memory first. Raises :class:`ExtractionError`.
    ``residual_frames``: see :func:`extract_stream` (frame indices of the canonical stream).
    ``crop_faces``: crop the main face track's fixed square (``faces.video.face_square``; faces found by
    ``detector``: mtcnn | hog | cnn | auto; no face ->
    ``ExtractionError``); ``face_box`` = (x0, y0, side) in upright source pixels crops that square instead
    (``predict`` passes each track's square in turn). ``backend``: see :func:`extract_stream`."""
    import av

    _check_args(size, gop, mode, colour)
    path = os.fspath(path)
    container, stream = canonical.open_video(path)  # raises ExtractionError for unreadable/no video
    with container:
        codec, src_fps = stream.codec_context.name, canonical.source_fps(stream)
    meta = {"source": path, "size": size, "fps": fps or src_fps, "codec": codec, "mode": mode, "gop": gop}
    try:
        if not crop_faces and face_box is None and (fps is None or abs(fps - src_fps) < 1e-3):
            try:
                return _clip(extract_stream(path, size=size, gop=gop, mode=mode, colour=colour,
                                            residual_frames=residual_frames, backend=backend),
                             dict(meta, reencoded=False))
            except NotCanonical:
                pass
        box = tuple(int(v) for v in face_box) if face_box is not None else None
        faces = None
        if crop_faces and box is None:
            from data_pipelines.faces import FaceSettings
            from data_pipelines.faces.video import main_square

            box, faces = main_square(path, FaceSettings(every=detect_every, detector=detector))
        data, info = canonical.canonical_from_file(path, size=size, gop=gop, fps=fps, box=box, qscale=qscale)
        arrays = extract_stream(data, size=size, gop=gop, mode=mode, colour=colour, residual_frames=residual_frames,
                                backend=backend)
    except NotCanonical as e:  # our own encode must always be canonical: a bug, but report it per file
        raise ExtractionError(path, f"re-encoded stream is not canonical ({e})") from e
    except av.FFmpegError as e:
        raise ExtractionError(path, f"decoding failed ({e.strerror or e})") from e
    meta.update(fps=info["fps"], reencoded=True)
    if box is not None:
        meta["face_box"] = list(box)
    if faces is not None:
        meta["faces"] = faces
    return _clip(arrays, meta)


def extract_frames(
    frames: np.ndarray,
    fps: float = 25.0,
    size: int = 112,
    gop: int = 12,
    mode: str = "accumulate",
    *,
    colour: str = "yuv",
    qscale: int = 2,
    source: str = "<frames>",
) -> CompressedClip:
    """Extract an image sequence uint8 [T, H, W, 3]: centre-square, resize, encode canonically, extract."""
    _check_args(size, gop, mode, colour)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ExtractionError(source, f"want uint8 [T>0, H, W, 3] frames, got {frames.dtype}{list(frames.shape)}")
    box = canonical.centre_square(*frames.shape[1:3])
    data = canonical.encode_canonical(
        (canonical.crop_resize(f, box, size) for f in frames), size=size, fps=fps, gop=gop, qscale=qscale
    )
    arrays = extract_stream(data, size=size, gop=gop, mode=mode, colour=colour)
    meta = {"source": source, "size": size, "fps": float(fps), "codec": "rawvideo", "mode": mode, "gop": gop,
            "reencoded": True}
    return _clip(arrays, meta)
