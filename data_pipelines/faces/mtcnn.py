"""MTCNN face detection in JAX, batched over frames: boxes, scores and five landmarks per face.

Why MTCNN: dlib's HOG and MMOD detectors miss faces a user plainly sees (3 of 5 in a group photo, see
``faces/README.md``); MTCNN finds them, gives five landmarks (eyes, nose, mouth corners) for alignment, and
its networks are small convolutions that run on the accelerator. The three stages follow
``facenet_pytorch.models.utils.detect_face`` step for step (the parity test compares against it):

1. P-Net over an image pyramid (scales ``12 / min_face * factor^k`` while the short side stays >= 12 px),
   cells with a face probability >= ``thresholds[0]``, NMS per scale (IoU 0.5) and across scales (0.7), box
   regression, boxes squared. This stage runs on a batch of equally sized frames in ONE jitted call with
   static shapes: each scale keeps its ``per_scale`` best cells (a padded list with a mask), the NMS is a
   masked greedy loop, and the survivors of all scales are cut to the ``candidates`` best. A frame with more
   candidates than that loses its lowest-scoring ones only (the test photos need at most 349 per scale and
   660 in all, at 2560 x 1912). The pyramid is read from int32 summed-area tables of the frames (exact
   window sums, O(output) per scale); frames over 8.4 Mpixel (int32 would overflow) use dense matmuls.
2. R-Net on 24x24 crops of those boxes (score > ``thresholds[1]``), NMS 0.7, regression, squared.
3. O-Net on 48x48 crops (score > ``thresholds[2]``): regression, landmarks, NMS 0.7 on min-area overlap.

Stages 2 and 3 see a few dozen to a few hundred boxes per frame: crops are cut on the host exactly as facenet
cuts them (its integer boxes, its area resize, read from summed-area tables) and the nets run jitted on
batches padded to a power of two, or in chunks of 256 (few compilations).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from data_pipelines.faces.mtcnn_nets import (
    ONet,
    PNet,
    RNet,
    fits_table,
    load_net,
    nms_numpy,
    nms_sorted,
    pyramid,
    rerec,
    resample,
    resample_table,
    summed_area,
)
from data_pipelines.faces.mtcnn_weights import weights_dir
from data_pipelines.faces.torch_weights import load_state_dict


@dataclasses.dataclass
class Faces:
    """One frame's faces: ``boxes`` float [n, 4] (x0, y0, x1, y1) source pixels, ``scores`` [n], ``landmarks``
    [n, 5, 2] (x, y): left eye, right eye, nose, left and right mouth corner (as seen in the image)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def _normalise(x):
    return (x - 127.5) * 0.0078125


def _stage1(graphdef, state, frames, *, scales: tuple[float, ...], threshold: float, per_scale: int,
            candidates: int):
    """uint8 [B, H, W, 3] -> squared, regressed boxes [B, M, 4], scores [B, M], keep mask [B, M]."""
    pnet = nnx.merge(graphdef, state)
    b, h, w = frames.shape[:3]
    table = summed_area(frames) if fits_table(h, w) else None
    boxes, scores, regs = [], [], []
    for scale in scales:
        size = (int(h * scale + 1), int(w * scale + 1))
        im = resample_table(table, size) if table is not None else resample(frames.astype(jnp.float32), size)
        reg, prob = pnet(_normalise(im))
        k = min(per_scale, prob.shape[1] * prob.shape[2])
        score, idx = jax.lax.top_k(prob.reshape(b, -1), k)
        cell = jnp.stack([idx % prob.shape[2], idx // prob.shape[2]], -1).astype(jnp.float32)
        box = jnp.concatenate([jnp.floor((2 * cell + 1) / scale), jnp.floor((2 * cell + 12) / scale)], -1)
        keep = jax.vmap(nms_sorted, (0, 0, None))(box, score >= threshold, 0.5)
        boxes.append(box)
        scores.append(jnp.where(keep, score, -jnp.inf))
        regs.append(jnp.take_along_axis(reg.reshape(b, -1, 4), idx[..., None], 1))
    boxes, scores, regs = (jnp.concatenate(v, 1) for v in (boxes, scores, regs))
    score, idx = jax.lax.top_k(scores, min(candidates, scores.shape[1]))
    box = jnp.take_along_axis(boxes, idx[..., None], 1)
    reg = jnp.take_along_axis(regs, idx[..., None], 1)
    keep = jax.vmap(nms_sorted, (0, 0, None))(box, jnp.isfinite(score), 0.7)
    wh = jnp.concatenate([box[..., 2:] - box[..., :2]] * 2, -1)
    return rerec(box + reg * wh), score, keep


def _apply(graphdef, state, x):
    return nnx.merge(graphdef, state)(_normalise(x))


def _bucket(n: int, least: int = 8) -> int:
    return max(least, 1 << (max(n, 1) - 1).bit_length())


CHUNK = 256  # R-Net / O-Net batch: lists up to this are padded to a power of two, longer ones run in chunks


def integral(frames: np.ndarray) -> np.ndarray:
    """int64 [B, H + 1, W + 1, C]: summed-area tables (a zero row and column first), exact for uint8 frames
    (integer sums: float64 cumsums cost 7x more)."""
    ii = np.zeros((frames.shape[0], frames.shape[1] + 1, frames.shape[2] + 1, frames.shape[3]), np.int64)
    np.cumsum(np.cumsum(np.asarray(frames, np.uint8), axis=1, dtype=np.int64), axis=2, out=ii[:, 1:, 1:])
    return ii


def _crops(ii: np.ndarray, boxes: np.ndarray, inds: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """facenet's ``pad`` + crop + area resize: integer boxes clipped to the frame (1-based ends), float
    [n, size, size, 3]; and the mask of boxes with a non-empty crop (the others are dropped). Each output
    pixel averages its source window (torch's ``area``: rows floor(i h / size) to ceil((i + 1) h / size)),
    read from the frames' summed-area tables ``ii``: four lookups a pixel, whatever the crop's size."""
    h, w = ii.shape[1] - 1, ii.shape[2] - 1
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x, y = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
    ex, ey = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    ok = (ey > y - 1) & (ex > x - 1)
    x0, y0, cw, ch = x[ok] - 1, y[ok] - 1, (ex - x + 1)[ok], (ey - y + 1)[ok]
    i = np.arange(size)
    ys, ye = y0[:, None] + (i * ch[:, None]) // size, y0[:, None] - (-(i + 1) * ch[:, None]) // size
    xs, xe = x0[:, None] + (i * cw[:, None]) // size, x0[:, None] - (-(i + 1) * cw[:, None]) // size
    f = inds[ok][:, None, None]
    y1, y2, x1, x2 = ys[:, :, None], ye[:, :, None], xs[:, None, :], xe[:, None, :]
    total = ii[f, y2, x2] - ii[f, y1, x2] - ii[f, y2, x1] + ii[f, y1, x1]
    return (total / ((y2 - y1) * (x2 - x1))[..., None].astype(np.float64)).astype(np.float32), ok


def _per_frame_nms(boxes: np.ndarray, scores: np.ndarray, inds: np.ndarray, threshold: float, mode: str):
    keep = [np.flatnonzero(inds == i)[nms_numpy(boxes[inds == i], scores[inds == i], threshold, mode)]
            for i in np.unique(inds)]
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def _points(boxes: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """O-Net's landmark outputs [n, 10] (5 x then 5 y, box units) -> [n, 5, 2] (x, y) in the frame's pixels of
    the boxes [n, 4+] they were read in (facenet's arithmetic: 1-based box ends)."""
    w, h = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
    return np.stack([w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], -1)


def _bbreg(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes[:, :4] + reg * np.stack([w, h, w, h], 1)


class MTCNN:
    """``detect(frames) -> [Faces]`` for uint8 RGB frames [B, H, W, 3] (or one [H, W, 3]).

    ``min_face``: the smallest face side searched, pixels; ``thresholds``: the three stages' probability
    thresholds; ``factor``: the pyramid's step; ``per_scale`` / ``candidates``: the static sizes of stage 1's
    candidate lists (see the module docstring). Defaults are facenet-pytorch's. ``folder``: the weights
    (default: the installed ``facenet_pytorch/data``; raises ``WeightsMissing`` naming the package).
    """

    def __init__(self, folder: str | None = None, *, min_face: float = 20.0,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709,
                 per_scale: int = 512, candidates: int = 1024):
        folder = folder or weights_dir()
        nets = {}
        for name, cls in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
            path = os.path.join(folder, f"{name}.pt")
            nets[name] = nnx.split(load_net(cls, load_state_dict(path), path))
        self.min_face, self.thresholds, self.factor = float(min_face), tuple(thresholds), float(factor)
        self.per_scale, self.candidates = int(per_scale), int(candidates)
        self._pnet, self._rnet, self._onet = nets["pnet"], nets["rnet"], nets["onet"]
        self._stage1 = jax.jit(functools.partial(_stage1, self._pnet[0]),
                               static_argnames=("scales", "threshold", "per_scale", "candidates"))
        self._r = jax.jit(functools.partial(_apply, self._rnet[0]))
        self._o = jax.jit(functools.partial(_apply, self._onet[0]))

    def candidates_of(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 1 alone on [B, H, W, 3]: boxes [B, M, 4], scores [B, M], keep [B, M] (numpy)."""
        b = len(frames)
        padded = np.concatenate([frames, np.zeros((_bucket(b, 1) - b, *frames.shape[1:]), frames.dtype)])
        scales = pyramid(*frames.shape[1:3], self.min_face, self.factor)
        if not scales:
            m = np.zeros((b, 0))
            return np.zeros((b, 0, 4)), m, m.astype(bool)
        out = self._stage1(self._pnet[1], jnp.asarray(padded), scales=scales, threshold=self.thresholds[0],
                           per_scale=self.per_scale, candidates=self.candidates)
        return tuple(np.asarray(v)[:b] for v in out)

    def _run(self, fn, state, crops: np.ndarray):
        n = len(crops)
        size = min(_bucket(n), CHUNK)
        padded = np.concatenate([crops, np.zeros((-n % size, *crops.shape[1:]), np.float32)])
        outs = [fn(state, jnp.asarray(padded[i:i + size])) for i in range(0, len(padded), size)]
        return [np.concatenate([np.asarray(o[k]) for o in outs])[:n] for k in range(len(outs[0]))]

    def landmarks(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """O-Net's five landmarks float [n, 5, 2] inside given square boxes [n, 4] (x0, y0, x1, y1) of one
        uint8 RGB frame, whatever its face score (for alignment inside a track's box)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        crops, ok = _crops(integral(np.asarray(frame)[None]), boxes, np.zeros(len(boxes), np.int64), 48)
        points = np.zeros((len(boxes), 5, 2), np.float32)
        if len(crops):
            _, marks, _ = self._run(self._o, self._onet[1], crops)
            points[ok] = _points(boxes[ok], marks)
        return points

    def detect(self, frames: np.ndarray) -> list[Faces]:
        """One :class:`Faces` per frame (all frames the same size), best score first."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"MTCNN wants uint8 RGB frames [B, H, W, 3], got shape {frames.shape}")
        box, score, keep = self.candidates_of(frames)
        inds = np.nonzero(keep)[0]
        boxes = np.concatenate([box[keep], score[keep][:, None]], 1).astype(np.float32)
        points = np.zeros((0, 5, 2), np.float32)
        ii = integral(frames)
        if len(boxes):  # stage 2: R-Net
            crops, ok = _crops(ii, boxes, inds, 24)
            boxes, inds = boxes[ok], inds[ok]
            reg, prob = self._run(self._r, self._rnet[1], crops)
            good = prob > self.thresholds[1]
            boxes = np.concatenate([boxes[good, :4], prob[good, None]], 1)
            inds, reg = inds[good], reg[good]
            pick = _per_frame_nms(boxes[:, :4], boxes[:, 4], inds, 0.7, "union")
            boxes, inds, reg = boxes[pick], inds[pick], reg[pick]
            boxes = np.concatenate([rerec(_bbreg(boxes, reg)), boxes[:, 4:]], 1)
        if len(boxes):  # stage 3: O-Net
            crops, ok = _crops(ii, boxes, inds, 48)
            boxes, inds = boxes[ok], inds[ok]
            reg, marks, prob = self._run(self._o, self._onet[1], crops)
            good = prob > self.thresholds[2]
            boxes = np.concatenate([boxes[good, :4], prob[good, None]], 1)
            inds, reg, marks = inds[good], reg[good], marks[good]
            points = _points(boxes, marks)
            boxes = np.concatenate([_bbreg(boxes, reg), boxes[:, 4:]], 1)
            pick = _per_frame_nms(boxes[:, :4], boxes[:, 4], inds, 0.7, "min")
            boxes, inds, points = boxes[pick], inds[pick], points[pick]
        out = []
        for i in range(len(frames)):
            sel = np.flatnonzero(inds == i)
            sel = sel[np.argsort(-boxes[sel, 4], kind="stable")]
            out.append(Faces(boxes[sel, :4].astype(np.float32), boxes[sel, 4].astype(np.float32),
                             points[sel].astype(np.float32)))
        return out


@functools.cache
def shared(folder: str | None = None, min_face: float = 20.0) -> MTCNN:
    """One loaded and compiled :class:`MTCNN` per (weights, min_face) per process: detectors and aligners made
    per file or per clip reuse its networks and compiled stages."""
    return MTCNN(folder, min_face=min_face)
