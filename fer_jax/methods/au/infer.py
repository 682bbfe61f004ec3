"""Per-frame AU intensities of real videos from a trained ``au_intensity`` workdir (the Python API behind
``fer-jax au``).

```python
from fer_jax.methods.au.infer import AuPredictor
table = AuPredictor("runs/au_ft").table("clip.mp4")   # pandas DataFrame if pandas is installed
```

Per video: decode (PyAV) and track faces with the shared face module (``data_pipelines.faces``: MTCNN
or dlib detection every few frames, IoU tracking, smoothed boxes; one ``face_id`` per track), then decode again
and crop each tracked face per frame (the track's smoothed box × ``FaceSettings.margin``, edge-padded,
resized to the model's input size), so a long video is never held in memory whole. Each track's crops go
through the regressor in windows of the trained length W, overlapping by half: a frame's value comes
from the window where it has at least W/2 frames of past context (the GRU is causal), the first W/2
frames of a track from the first window.

The table has one row per (frame, face) and one row per frame with no face, OpenFace's columns:
``frame`` (1-based), ``face_id`` (track id; -1 on a no-face row), ``timestamp`` (s), ``confidence`` (1
where a track covers the frame, 0 otherwise: the tracker gives no per-frame fit score), ``success``
(1/0), ``AU01_r`` ... (0-5; empty/NaN on a no-face row: nothing is guessed).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterator

import numpy as np

META = ("frame", "face_id", "timestamp", "confidence", "success")


class VideoError(ValueError):
    """A video that cannot be read; the message names the file and the reason."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def decode(path: str) -> Iterator[tuple[int, np.ndarray, float]]:
    """(index, uint8 RGB [H, W, 3], timestamp in s) per frame; :class:`VideoError` when unreadable."""
    import av

    if not os.path.isfile(path):
        raise VideoError(path, "no such file")
    n = 0
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(path, "no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25.0)
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else n / fps
                yield n, frame.to_ndarray(format="rgb24"), t
                n += 1
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        if n == 0:
            raise VideoError(path, f"cannot decode video ({type(e).__name__}: {e})") from e
    if n == 0:
        raise VideoError(path, "no decodable video frame")


def video_fps(path: str) -> float:
    """The video stream's average rate; :class:`VideoError` when the file cannot be opened as a video."""
    import av

    if not os.path.isfile(path):
        raise VideoError(path, "no such file")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(path, "no video stream")
            return float(container.streams.video[0].average_rate or 25.0)
    except av.error.FFmpegError as e:
        raise VideoError(path, f"cannot open as a video ({type(e).__name__}: {e})") from e


def window_starts(n: int, window: int) -> list[int]:
    """Starts of the overlapping windows covering ``n`` frames (stride W/2, the last one reaching n)."""
    stride = max(window // 2, 1)
    starts = [0]
    while starts[-1] + window < n:
        starts.append(starts[-1] + stride)
    return starts


@dataclasses.dataclass
class AuTable:
    """The result when pandas is missing: column name -> array (the DataFrame's columns)."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["frame"])


class AuPredictor:
    """A restored ``au_intensity`` workdir: ``table(video)`` gives per-frame AU intensities."""

    def __init__(self, workdir: str, checkpoint: str = "best", face_settings: Any = None, batch: int = 8):
        import jax

        from data_pipelines.faces import FaceSettings
        from fer_jax.core.workdir import restore
        from fer_jax.methods.au.regressor import predict_frames

        r = restore(workdir, checkpoint)
        if r.config.method != "au_intensity":
            raise ValueError(f"{workdir}: an {r.config.method!r} workdir; fer-jax au needs a stage-2 "
                             "(au_intensity) workdir")
        spec = r.method.serving_spec(r.run)
        self.size, self.window = int(spec.preprocessing["size"]), int(spec.preprocessing["window"])
        self.au_columns = tuple(f"{name}_r" for name in spec.output_names)
        self.faces = face_settings or FaceSettings()
        self.batch = batch
        self.step, self.checkpoint = r.step, r.checkpoint
        net = r.method.predictor(r.state)
        self._predict = jax.jit(lambda x: predict_frames(net, x))
        self._detector = None

    # -- faces -------------------------------------------------------------------------------
    def track(self, path: str):
        """The face tracks of ``path`` (``data_pipelines.faces.TrackResult``) and the frame timestamps."""
        if self._detector is None:
            self._detector = self.faces.make_detector()
        tracker = self.faces.tracker(video_fps(path), self._detector)
        times, pending, batch = [], ([], []), max(1, getattr(self._detector, "batch", 1))
        for i, frame, t in decode(path):
            times.append(t)
            if i % self.faces.every == 0:  # sampled frames, detected a batch at a time (MTCNN: one call)
                pending[0].append(i)
                pending[1].append(frame)
            if len(pending[0]) >= batch:
                tracker.update_batch(*pending)
                pending = ([], [])
        tracker.update_batch(*pending)
        return tracker.finish(len(times)), np.asarray(times, np.float64)

    def crops(self, path: str, tracks) -> dict[int, np.ndarray]:
        """track id -> uint8 [n frames of the track, S, S, 3] face crops (second decoding pass)."""
        from data_pipelines.faces import face_crop

        out = {t.track_id: np.zeros((len(t.frames), self.size, self.size, 3), np.uint8) for t in tracks}
        for i, frame, _ in decode(path):
            for t in tracks:
                if t.frames[0] <= i <= t.frames[-1]:
                    k = i - int(t.frames[0])
                    out[t.track_id][k] = face_crop(frame, t.boxes[k], self.size, self.faces.margin)
        return out

    # -- model -------------------------------------------------------------------------------
    def intensities(self, crops: np.ndarray) -> np.ndarray:
        """uint8 [n, S, S, 3] consecutive crops of one face -> float32 [n, A] (see module docstring)."""
        n, w = len(crops), self.window
        starts = window_starts(n, w)
        idx = np.minimum(np.arange(w)[None] + np.asarray(starts)[:, None], n - 1)  # edge-pad the tail
        windows = crops[idx]
        preds = []
        for b in range(0, len(windows), self.batch):
            chunk = windows[b:b + self.batch].astype(np.float32) / 255.0
            pad = self.batch - len(chunk)  # one compiled shape
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, 0)]) if pad else chunk
            preds.append(np.asarray(self._predict(chunk))[:len(chunk) - pad])
        preds = np.concatenate(preds)
        out = np.zeros((n, preds.shape[-1]), np.float32)
        for j, s in enumerate(starts):
            first = s if j == 0 else s + w - max(w // 2, 1)
            stop = min(s + w, n)
            out[first:stop] = preds[j, first - s:stop - s]
        return out

    # -- table -------------------------------------------------------------------------------
    def columns(self, path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The table's columns for ``path`` and a summary (frames, faces, tracks)."""
        result, times = self.track(path)
        tracks = [t for t in result.tracks if len(t.frames)]
        crops = self.crops(path, tracks) if tracks else {}
        rows: list[tuple] = []
        values: list[np.ndarray] = []
        covered = np.zeros(len(times), bool)
        for t in tracks:
            pred = self.intensities(crops[t.track_id])
            for k, f in enumerate(t.frames):
                rows.append((int(f) + 1, int(t.track_id), float(times[f]), 1.0, 1))
                values.append(pred[k])
            covered[t.frames] = True
        nan = np.full(len(self.au_columns), np.nan, np.float32)
        for f in np.flatnonzero(~covered):
            rows.append((int(f) + 1, -1, float(times[f]), 0.0, 0))
            values.append(nan)
        order = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1]))
        cols = {name: np.asarray([rows[i][j] for i in order]) for j, name in enumerate(META)}
        vals = np.stack([values[i] for i in order]) if order else np.zeros((0, len(self.au_columns)))
        cols.update({name: np.round(vals[:, j].astype(np.float64), 4) for j, name in enumerate(self.au_columns)})
        summary = {"frames": int(len(times)), "faces": len(tracks), "frames_with_face": int(covered.sum()),
                   "tracks": [t.summary(len(times)) for t in tracks]}
        return cols, summary

    def table(self, path: str):
        """A pandas DataFrame (or :class:`AuTable` without pandas) of ``path``'s per-frame intensities."""
        cols, _ = self.columns(path)
        return to_frame(cols)


def to_frame(cols: dict[str, np.ndarray]):
    try:
        import pandas as pd
    except ImportError:
        return AuTable(cols)
    return pd.DataFrame(cols)


def write_csv(path: str, cols: dict[str, np.ndarray]) -> None:
    """OpenFace-style CSV (plain commas; a no-face row leaves the AU cells empty), written atomically."""
    from data_pipelines.atomic import atomic_write

    names = list(cols)
    n = len(cols["frame"])
    lines = [",".join(names) + "\n"]
    for i in range(n):
        cells = []
        for name in names:
            v = cols[name][i]
            if name == "timestamp":
                cells.append(f"{float(v):.3f}")
            elif name in META:
                cells.append(f"{v:g}" if isinstance(v, float) else str(v))
            else:
                cells.append("" if np.isnan(v) else f"{float(v):.3f}")
        lines.append(",".join(cells) + "\n")
    atomic_write(path, "".join(lines))


def write_plot(path: str, cols: dict[str, np.ndarray], au_columns: tuple[str, ...], title: str) -> None:
    """PNG of each AU's intensity over time, one panel per face (no-face frames are gaps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from data_pipelines.atomic import atomic_path

    faces = sorted(set(int(x) for x in cols["face_id"]) - {-1})
    fig, axes = plt.subplots(max(len(faces), 1), 1, figsize=(9, 2.6 * max(len(faces), 1)), squeeze=False, dpi=90)
    t_all = np.asarray(cols["timestamp"], np.float64)
    for ax, face in zip(axes[:, 0], faces or [None]):
        if face is None:
            ax.text(0.5, 0.5, "no face found in any frame", ha="center", va="center", transform=ax.transAxes)
        else:
            sel = np.asarray(cols["face_id"]) == face
            for name in au_columns:
                ax.plot(t_all[sel], cols[name][sel], lw=1, label=name[:-2])
            ax.set_ylabel(f"face {face}")
        ax.set_ylim(-0.1, 5.1)
        ax.set_xlim(t_all.min() if len(t_all) else 0, t_all.max() if len(t_all) else 1)
    axes[0, 0].set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    if faces:
        axes[0, 0].legend(fontsize=6, ncol=6, loc="upper right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
