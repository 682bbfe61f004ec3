"""Face tracks across the frames of a clip: which faces, in which frames, with which (smoothed) box.

Association rule: detection runs on every ``every``-th frame. At each sampled frame the open tracks and
the new detections are matched greedily, best first, by IoU with the track's last detected box; a pair
counts when IoU >= ``min_iou`` or the centres are closer than half the face side (a face moving fast
between two samples). A detection nobody claims starts a new track, with the next track id.

Lost and found: a track that finds no detection stays open for ``max_gap`` frames (default 1 s of
video). Found again within that time it keeps its id; the frames in between are interpolated (the face
is assumed present: HOG misses turned or blurred faces for a few frames) and listed in ``Track.gaps``.
Lost for longer, the track is closed and the face, when it comes back, starts a NEW track: there is no
re-identification by appearance, so a cut away and back gives two tracks and each is reported on its own.
Tracks with a single detection (when the clip had at least two sampled frames) are dropped as false
positives.

Smoothing: each track's box (centre x, centre y, side) is interpolated between detections and
median-filtered over ``2 * every + 1`` frames, so one false or jittery detection cannot move the crop.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from data_pipelines.faces.detect import Detection


@dataclasses.dataclass
class Track:
    """One face through a clip. ``frames``: the contiguous frame indices it covers (first to last
    detection); ``boxes`` [n, 3] (cx, cy, side) per covered frame, smoothed, in source pixels;
    ``detected`` [n] bool, True where a detection (not interpolation) placed the box; ``gaps``: (last
    frame seen, frame found again) for each time it was lost and found within ``max_gap``."""

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray
    gaps: list[tuple[int, int]]
    scores: np.ndarray

    def box_at(self, frame: int) -> np.ndarray | None:
        """(cx, cy, side) at ``frame``, or None where the track does not cover it."""
        if len(self.frames) == 0 or not self.frames[0] <= frame <= self.frames[-1]:
            return None
        return self.boxes[frame - self.frames[0]]

    def summary(self, n_frames: int) -> dict[str, Any]:
        """JSON-able: id, first/last frame, share of the clip's frames, gaps, median (cx, cy, side) and that
        median square as ``box`` (x0, y0, x1, y1)."""
        cx, cy, side = (float(v) for v in np.median(self.boxes, axis=0))
        return {"track_id": self.track_id, "first_frame": int(self.frames[0]), "last_frame": int(self.frames[-1]),
                "frames": len(self.frames), "share": round(len(self.frames) / max(n_frames, 1), 4),
                "detections": int(self.detected.sum()), "gaps": [list(map(int, g)) for g in self.gaps],
                "median_box": [round(v, 1) for v in (cx, cy, side)],
                "box": [round(v, 1) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)]}


@dataclasses.dataclass
class TrackResult:
    """All tracks of a clip: ``tracks`` (by id), ``n_frames`` decoded, ``shape`` (h, w) of a frame,
    ``sampled`` frames run through the detector, ``detector`` name, ``fps`` (0 when unknown)."""

    tracks: list[Track]
    n_frames: int
    shape: tuple[int, int]
    sampled: int
    detector: str
    fps: float = 0.0

    def face_mask(self) -> np.ndarray:
        """bool [n_frames]: True where some track covers the frame (the rest is ``no_face``)."""
        mask = np.zeros(self.n_frames, bool)
        for t in self.tracks:
            mask[t.frames] = True
        return mask

    def main(self) -> Track | None:
        """The track covering most frames (ties: the larger face); None when no face was found."""
        if not self.tracks:
            return None
        return max(self.tracks, key=lambda t: (len(t.frames), float(np.median(t.boxes[:, 2]))))

    def rescaled(self, factor: float, shape: tuple[int, int]) -> "TrackResult":
        """The same tracks in frames ``factor`` times larger, of ``shape`` (h, w): detection may run on
        frames the decoder already shrank."""
        tracks = [dataclasses.replace(t, boxes=t.boxes * factor) for t in self.tracks]
        return dataclasses.replace(self, tracks=tracks, shape=tuple(shape))

    def summary(self) -> dict[str, Any]:
        """What the tracker did, for a record: face share, track count and each track's summary."""
        return {"detector": self.detector, "frames": self.n_frames, "sampled": self.sampled,
                "face_share": round(float(self.face_mask().mean()) if self.n_frames else 0.0, 4),
                "tracks": [t.summary(self.n_frames) for t in self.tracks]}


def iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union > 0 else 0.0


def _close(a: Detection, b: Detection) -> bool:
    (ax, ay), (bx, by) = a.centre, b.centre
    return bool(np.hypot(ax - bx, ay - by) < 0.5 * max(a.side, b.side))


def moving_median(x: np.ndarray, window: int) -> np.ndarray:
    """Median over a centred window (edges padded by repetition); short inputs come back unchanged."""
    if len(x) < 3 or window < 3:
        return x
    half = window // 2
    padded = np.pad(x, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=-1)


class FaceTracker:
    """Feed frames in order with :meth:`update`; :meth:`finish` gives the :class:`TrackResult`.

    ``detector``: any ``frame -> [Detection]`` (``FaceDetector``); ``every``: detect on every n-th frame;
    ``max_gap``: frames a track may go undetected and keep its id; ``min_iou``: see the module docstring.
    """

    def __init__(self, detector, *, every: int = 5, max_gap: int = 25, min_iou: float = 0.3):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.detector, self.every, self.max_gap, self.min_iou = detector, int(every), int(max_gap), float(min_iou)
        self._open: dict[int, list[tuple[int, Detection]]] = {}
        self._closed: dict[int, list[tuple[int, Detection]]] = {}
        self._next_id, self._n, self._sampled, self._shape = 0, 0, 0, (0, 0)

    def update_batch(self, indices: list[int], frames: list[np.ndarray]) -> None:
        """Several sampled frames (indices multiples of ``every``, in order), ``detector.batch`` at a time in
        one call when the detector has ``detect_batch`` (MTCNN on a batch of frames); the same tracks as
        :meth:`update` one by one."""
        detect_batch = getattr(self.detector, "detect_batch", None)
        size = max(1, int(getattr(self.detector, "batch", 1))) if detect_batch else 1
        for s in range(0, len(indices), size):
            chunk = frames[s:s + size]
            found = detect_batch(chunk) if detect_batch else [self.detector(chunk[0])]
            for index, frame, detections in zip(indices[s:s + size], chunk, found):
                self._saw(index, frame)
                self._sampled += 1
                self.step(index, detections)

    def update(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` (0, 1, 2, ... in order); only every ``every``-th one is run through the detector."""
        if index % self.every:
            self._saw(index, frame)
        else:
            self.update_batch([index], [frame])

    def _saw(self, index: int, frame: np.ndarray) -> None:
        self._n = max(self._n, index + 1)
        self._shape = tuple(np.asarray(frame).shape[:2])

    def step(self, index: int, detections: list[Detection]) -> None:
        """Associate one sampled frame's detections with the open tracks (the rule of the module docstring)."""
        for tid in [t for t, hits in self._open.items() if index - hits[-1][0] > self.max_gap]:
            self._closed[tid] = self._open.pop(tid)
        pairs = sorted(((iou(hits[-1][1], d), tid, j) for tid, hits in self._open.items()
                        for j, d in enumerate(detections)), reverse=True)
        used_t, used_d = set(), set()
        for overlap, tid, j in pairs:
            if tid in used_t or j in used_d:
                continue
            if overlap >= self.min_iou or _close(self._open[tid][-1][1], detections[j]):
                self._open[tid].append((index, detections[j]))
                used_t.add(tid)
                used_d.add(j)
        for j, d in enumerate(detections):
            if j not in used_d:
                self._open[self._next_id] = [(index, d)]
                self._next_id += 1

    def finish(self, n_frames: int | None = None) -> TrackResult:
        """Close every track and smooth it. ``n_frames``: the clip's length when more frames were
        decoded than fed (default: the last index fed + 1)."""
        n = int(n_frames or self._n)
        self._n = max(self._n, n)
        all_hits = {**self._closed, **self._open}
        tracks = []
        for tid in sorted(all_hits):
            hits = all_hits[tid]
            if len(hits) < 2 and self._sampled >= 2:
                continue  # one lone detection: a false positive more often than a face
            tracks.append(self._smooth(tid, hits))
        for new_id, t in enumerate(tracks):  # ids 0, 1, ... in order of first appearance
            t.track_id = new_id
        name = getattr(self.detector, "name", type(self.detector).__name__)
        return TrackResult(tracks, n, self._shape, self._sampled, name)

    def _smooth(self, tid: int, hits: list[tuple[int, Detection]]) -> Track:
        idx = np.array([i for i, _ in hits])
        vals = np.array([(*d.centre, d.side) for _, d in hits], np.float64)
        first, last = int(idx[0]), int(idx[-1])
        last = min(last + self.every - 1, max(self._n - 1, last))  # a sample stands for its `every` frames
        frames = np.arange(first, last + 1)
        boxes = np.stack([moving_median(np.interp(frames, idx, vals[:, k]), 2 * self.every + 1)
                          for k in range(3)], axis=1)
        detected = np.isin(frames, idx)
        gaps = [(int(a), int(b)) for a, b in zip(idx[:-1], idx[1:]) if b - a > self.every]
        scores = np.array([d.score for _, d in hits], np.float32)
        return Track(tid, frames, boxes, detected, gaps, scores)


def track_frames(frames: Iterable[np.ndarray], detector, *, every: int = 5, max_gap: int = 25,
                 min_iou: float = 0.3) -> TrackResult:
    """Run a :class:`FaceTracker` over a sequence of frames (uint8 RGB or gray)."""
    tracker = FaceTracker(detector, every=every, max_gap=max_gap, min_iou=min_iou)
    for i, frame in enumerate(frames):
        tracker.update(i, frame)
    return tracker.finish()


@dataclasses.dataclass(frozen=True)
class FaceSettings:
    """How a caller tracks faces; plain data so it pickles to worker processes and goes into records.

    ``detector``: mtcnn | hog | cnn | ``auto`` (the default: ``mtcnn`` when facenet-pytorch's weights are
    installed, else ``hog`` with a message naming the package; :meth:`resolved` says which); ``every``: detect
    on every n-th frame (5 = 0.2 s at 25 fps: faces move little in that time and detection costs more than
    decoding); ``max_side``: detection resolution (see
    ``FaceDetector``); ``max_gap_s``: how long a lost track keeps its id; ``margin``: the fixed square's
    size over the face box; ``upsample``: the detector's (None = automatic); ``crop_margin`` and ``crop_shift``:
    how ``predict`` frames each face for a model trained on whole frames (``crop.SYNTHFACE_FRAMING``).
    """

    detector: str = "auto"
    every: int = 5
    max_side: int = 640
    max_gap_s: float = 1.0
    margin: float = 1.6
    upsample: int | None = None
    align: int = 0  # per-frame crops only: 0 = none, 5 = five landmarks, 68 = dlib's 68 (crop.frame_cropper)
    crop_margin: float | None = None  # serving crops: square side over the face side (None: the model's own)
    crop_shift: float = 0.0  # serving crops: centre moved down by this many face sides (negative: up)

    def __post_init__(self):
        from data_pipelines.faces.detect import DETECTORS

        if self.detector != "auto" and self.detector not in DETECTORS:
            raise ValueError(f"face tracking: unknown detector {self.detector!r}; known: auto, {', '.join(DETECTORS)}")
        if self.detector == "mtcnn":
            from data_pipelines.faces.mtcnn_weights import weights_dir

            weights_dir()  # asked for by name and not installed: WeightsMissing names the package, now
        if self.every < 1:
            raise ValueError(f"face tracking: every must be >= 1, got {self.every}")
        if self.align not in (0, 5, 68):
            raise ValueError(f"face tracking: align is 0, 5 or 68 landmarks, got {self.align}")
        if self.margin <= 0 or self.max_gap_s < 0:
            raise ValueError(f"face tracking: margin must be > 0 and max_gap_s >= 0, got {self.margin}, "
                             f"{self.max_gap_s}")

    def resolved(self) -> "FaceSettings":
        """These settings with ``auto`` replaced by the detector it stands for on this machine
        (``detect.default_detector``). Resolved where a detector is made or a build records its protocol, not
        when the settings are made (builder classes make theirs at import), so a process that never looks for
        a face never hears about MTCNN's weights."""
        if self.detector != "auto":
            return self
        from data_pipelines.faces.detect import default_detector

        return dataclasses.replace(self, detector=default_detector())

    def make_detector(self):
        """A newly loaded detector of the kind these settings name: the one place where ``detector`` becomes
        a model (a new kind of detector plugs in here and in ``detect.DETECTORS``)."""
        from data_pipelines.faces.detect import make_detector

        return make_detector(self.resolved().detector, max_side=self.max_side, upsample=self.upsample)

    def tracker(self, fps: float, detector=None) -> FaceTracker:
        """A fresh tracker for a clip at ``fps`` (``detector`` reuses a loaded one)."""
        det = detector or self.make_detector()
        return FaceTracker(det, every=self.every, max_gap=max(self.every, round(self.max_gap_s * (fps or 25.0))))

    def describe(self) -> str:
        """The protocol words for a build or record: what was tracked and how the crop was made."""
        name = {"mtcnn": "MTCNN", "auto": "MTCNN (dlib HOG where facenet-pytorch's weights are not installed)"
                }.get(self.detector, f"dlib {self.detector.upper()}")
        return (f"{name} face detection every {self.every} frames at <= {self.max_side} px, "
                f"IoU tracking (lost up to {self.max_gap_s:g} s keeps its id), crop = one fixed square per clip "
                f"around the main track's smoothed boxes x {self.margin:g}")


@functools.cache
def loaded_detector(settings: FaceSettings):
    """One detector per settings per process (loading a model costs more than detecting in a clip)."""
    return settings.make_detector()
