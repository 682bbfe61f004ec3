"""Write a file so that no reader ever sees half of it: a temporary name in the same folder, then
``os.replace``. The bottom layer of the project: imports nothing from fer_jax or TensorFlow, and
``fer_jax`` uses it too."""

from __future__ import annotations

import json
import os
from typing import Any, Callable


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    atomic_write_with(path, lambda f: f.write(data.encode() if isinstance(data, str) else data))


def atomic_write_with(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = os.fspath(path)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> None:
    """``json.dumps(obj, **dump_kwargs)`` written atomically (indent 2 unless given)."""
    dump_kwargs.setdefault("indent", 2)
    atomic_write(path, json.dumps(obj, **dump_kwargs) + "\n")
