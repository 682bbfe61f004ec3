"""Compressed-domain clips (CoViAR / MI-FER representation): I-frames, motion vectors and residuals.

A video is canonicalised to MPEG-4 Part 2 with a fixed GOP of ``gop`` frames (default 12) and no
B-frames, so each GOP is one I-frame followed by ``gop - 1`` P-frames that each predict from the frame
before. Inputs already in that form (MPEG-4, ``size`` x ``size``, the exact I/P pattern) are read as they
are; anything else PyAV opens is re-encoded in memory first (see :mod:`.canonical`).

Arrays of a :class:`CompressedClip` (``S`` = ``size``, ``G`` GOPs, ``P = gop - 1``):

* ``iframes`` uint8 [G, S, S, 3]: RGB of each GOP's I-frame, 0..255.
* ``motion_vectors`` float16 [G, P, S/4, S/4, 2]: (x, y) displacement in *pixels* of the S x S frame, one
  vector per 4x4 pixel cell (MPEG-4 blocks are 16x16 or 8x8, so this is lossless), half-pel resolution
  (multiples of 0.5). **Sign: source minus destination** -- the content at pixel ``p`` came from
  ``p + mv`` in the reference (FFmpeg's ``motion_x / motion_scale``). Scene content moving right by
  2 px/frame therefore gives ``mv_x = -2`` per frame in ``frame`` mode and ``-2 t`` at P-frame ``t`` in
  ``accumulate`` mode. Intra-coded blocks carry no codec vector and get a zero step (predicted from the
  co-located reference pixels, so in ``frame`` mode their residual is the plain frame difference).
* ``residuals`` int16 [G, P, S, S, 3]: RGB ``frame - motion-compensated reference`` in [-255, 255].
  Half-pel positions are sampled as the rounded mean of the 2 or 4 neighbouring pixels (MPEG-4's own
  interpolation); positions outside the frame take the border pixel.
* ``frame_types`` uint8 [G, gop]: 1 = I, 2 = P, 0 = padding (the last GOP is zero-padded to ``gop``).
* ``pts`` int64 [G, gop]: frame index on the canonical constant-rate clock (time = pts / meta["fps"]),
  -1 for padding.
* ``meta``: ``source``, ``size``, ``fps``, ``codec`` (of the input), ``mode``, ``gop``, ``n_frames``,
  ``reencoded`` (+ ``face_box`` [x0, y0, side] in source pixels with face cropping).

Modes: ``accumulate`` (default, CoViAR): vectors and residuals of P-frame ``t`` are relative to the
GOP's I-frame -- each 4x4 cell is traced back through the per-frame vectors (see
:func:`.motion.accumulate`). ``frame``: each P-frame's own codec vectors and its residual against the
previous decoded frame (then prediction + residual is the decoded frame, up to colour rounding).

The residual is computed on the decoded 4:2:0 planes (chroma with MPEG-4's chroma vectors) and mapped to
RGB by BT.601's 3x3 matrix (differences need no offsets), so P-frames are never converted to RGB; it is
within +-2 of the difference of swscale's RGB conversions. The canonical encode uses a fixed quantiser
(``qscale``, default 2: near-transparent; residuals then also carry fine coding detail). A video with no
decodable video frame raises
:class:`ExtractionError`; a single-frame video is a valid clip with G = 1 and all P slots padded.
"""

from data_pipelines.compressed.clip import CompressedClip, ExtractionError, load_clip, save_clip
from data_pipelines.compressed.extract import extract_file, extract_frames

__all__ = ["CompressedClip", "ExtractionError", "extract_file", "extract_frames", "save_clip", "load_clip"]
