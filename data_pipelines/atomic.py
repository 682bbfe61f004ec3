"""Write a file so that no reader ever sees half of it: a temporary name in the same folder, then
``os.replace``. The bottom layer of the project: imports nothing from fer_jax or TensorFlow, and
``fer_jax`` uses it too."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A fresh temporary path beside ``path`` (hidden ``.tmp-`` name, same extension, so writers that
    pick a format by extension still work); renamed to ``path`` when the block succeeds, removed when
    it fails. For writers that want a file name (PyAV, PIL, ``np.savez``) rather than a file object."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{stem}.", suffix=ext, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    atomic_write_with(path, lambda f: f.write(data.encode() if isinstance(data, str) else data))


def atomic_write_with(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def json_safe(obj: Any) -> Any:
    """Numpy values -> Python, NaN/inf -> None (JSON has no NaN; e.g. recall of an absent class)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> None:
    """``json.dumps(json_safe(obj), **dump_kwargs)`` written atomically, strict JSON (indent 2 unless
    given): the one JSON writer of the project's workdirs, reports and benchmarks."""
    dump_kwargs.setdefault("indent", 2)
    atomic_write(path, json.dumps(json_safe(obj), allow_nan=False, **dump_kwargs) + "\n")
