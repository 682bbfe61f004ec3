"""Decode clips in worker *processes* with a bounded queue in front of the device.

Why processes: extraction is many small numpy calls and PyAV calls that hold the GIL, so threads made
every path slower (measured: 110 -> 338 ms per 16 clips on 16 cores). Workers are started with the
``spawn`` method (no fork of a process that may hold a CUDA context or JAX's thread pools) and return
compact numpy arrays; at most ``depth`` clips are in flight, so memory stays bounded however many files
there are, and results come back in input order while the consumer (the model on the device) works on
the previous batch.

The worker functions here import numpy and PyAV only (no JAX), so a worker costs ~0.3 s to start; face
tracking with MTCNN imports JAX in the worker, on the CPU (``_quiet_worker``).
"""

from __future__ import annotations

import collections
import io
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np


def _quiet_worker() -> None:
    """Worker start-up: no nested thread pools (one process per core is the parallelism), and JAX (MTCNN face
    detection in ``predict --workers``) on the CPU: the accelerator belongs to the model in the main process,
    and a second process preallocating its memory would fail."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


class WorkerError(RuntimeError):
    """An exception raised in a worker, carried back as its type name and message (exceptions with
    custom constructors do not survive pickling)."""


class Producer:
    """``imap(fn, items)`` over ``workers`` spawned processes with at most ``depth`` tasks in flight;
    ``workers <= 1`` runs in this process (no pickling, the behaviour of a plain loop). ``chunk`` items
    go to a worker per task: small tasks (a 112² clip decodes in < 1 ms) would otherwise spend as
    long in the parent's inter-process bookkeeping as in the worker."""

    def __init__(self, workers: int, depth: int | None = None, chunk: int = 1):
        self.workers = max(1, int(workers))
        self.depth = depth or 2 * self.workers
        self.chunk = max(1, int(chunk))
        self._pool = None
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_quiet_worker)

    def imap(self, fn: Callable[..., Any], items: Iterable[Any], *, return_exceptions: bool = False
             ) -> Iterator[Any]:
        """Results of ``fn(item)`` in input order. With ``return_exceptions`` an item's exception is
        yielded in its place (a batch of files reports the bad one and goes on) instead of raised."""
        if self._pool is None:
            for item in items:
                try:
                    yield fn(item)
                except Exception as e:  # noqa: BLE001 - handed to the caller as asked
                    if not return_exceptions:
                        raise
                    yield e
            return
        pending: collections.deque[Future] = collections.deque()
        for chunk in _chunks(items, self.chunk):
            pending.append(self._pool.submit(_apply, fn, chunk))
            if len(pending) >= self.depth:
                yield from _unpack(pending.popleft().result(), return_exceptions)
        while pending:
            yield from _unpack(pending.popleft().result(), return_exceptions)

    def warm(self) -> None:
        """Start every worker now (spawn + imports), so that timings and progress bars exclude it."""
        if self._pool is not None:
            list(self._pool.map(_noop, range(self.workers * 2)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _noop(_: Any) -> None:
    import av  # noqa: F401 - the import is the warm-up

    from data_pipelines.compressed import decode  # noqa: F401


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _apply(fn: Callable[..., Any], chunk: list[Any]) -> list[tuple[bool, Any]]:
    """Worker side: (ok, result or WorkerError) per item, so one bad item does not lose its chunk."""
    out = []
    for item in chunk:
        try:
            out.append((True, fn(item)))
        except Exception as e:  # noqa: BLE001 - carried back to the parent
            out.append((False, WorkerError(f"{type(e).__name__}: {e}")))
    return out


def _unpack(results: list[tuple[bool, Any]], return_exceptions: bool) -> Iterator[Any]:
    for ok, value in results:
        if not ok and not return_exceptions:
            raise value
        yield value


# --- worker functions: (source, ...) -> compact numpy arrays; picklable (module level) ----------------


def _source(source: bytes | str | os.PathLike):
    return io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)


def decode_compact(source: bytes | str | os.PathLike, size: int | tuple[int, int], gop: int,
                   mode: str = "accumulate", residual_frames: Any = None, iframes: bool = False
                   ) -> dict[str, np.ndarray]:
    """A canonical stream -> :func:`.device.pack_gops` arrays (+ ``iframes`` RGB from swscale if asked):
    what the device extractor needs and nothing more. Raises ``NotCanonical``."""
    from data_pipelines.compressed.decode import decode_gops
    from data_pipelines.compressed.device import needed_planes, pack_gops

    keep = needed_planes(1 << 30, gop, mode, residual_frames)
    gops = list(decode_gops(source, size=size, gop=gop, iframe_rgb=iframes, keep_planes=keep))
    if not gops:
        from data_pipelines.compressed.decode import NotCanonical

        raise NotCanonical("no frames")
    pack = pack_gops(gops, gop=gop, mode=mode, residual_frames=residual_frames)
    if iframes:
        pack["iframes"] = np.stack([g.iframe_rgb for g in gops])
    return pack


def bare_decode(source: bytes | str | os.PathLike) -> int:
    """Decode every frame and nothing else (no vectors, no conversion): the floor of any path that reads
    the video. Returns the frame count."""
    import av

    with av.open(_source(source)) as c:
        return sum(1 for _ in c.decode(video=0))


def decode_rgb(source: bytes | str | os.PathLike, height: int, width: int) -> np.ndarray:
    """Every frame as uint8 RGB [T, H, W, 3] at the model size (swscale, one thread: small frames)."""
    import av

    with av.open(_source(source)) as c:
        return np.stack([f.to_ndarray(width=width, height=height, format="rgb24", threads=1)
                         for f in c.decode(video=0)])
