"""Write a file so that no reader ever sees half of it: a temporary name in the same folder, then
``os.replace``. The bottom layer of the project: imports nothing from fer_jax or TensorFlow, and
``fer_jax`` uses it too."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any, Callable


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


def atomic_write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> None:
    """``json.dumps(obj, **dump_kwargs)`` written atomically (indent 2 unless given)."""
    dump_kwargs.setdefault("indent", 2)
    atomic_write(path, json.dumps(obj, **dump_kwargs) + "\n")
