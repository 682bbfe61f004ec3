"""Read a PyTorch ``state_dict`` file (``torch.save``) into numpy arrays, without torch and without running
anything the file asks for.

Why not ``pickle.load``: a pickle can name any importable callable and run it, so a weights file from a
package folder would be code we execute. The unpickler here knows the handful of names a plain state dict
uses (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` and the typed
storages) and builds numpy arrays from them; any other name is refused with :class:`WeightsFormatError`.

Both on-disk layouts are read: the zip archive of torch >= 1.6 (``<name>/data.pkl`` + one raw file per
storage under ``<name>/data/``) and the legacy stream (magic number, protocol, system info, the pickled
object, the storage keys, then each storage as an int64 element count followed by its raw little-endian
bytes). The MTCNN weights ``facenet-pytorch`` ships are in the legacy layout.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
ZIP_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int64": np.int64,
              "int32": np.int32, "uint8": np.uint8, "bool": np.bool_}


class WeightsFormatError(ValueError):
    """A weights file that is not a plain tensor state dict: names the file and the reason."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclasses.dataclass
class _Storage:
    key: str
    dtype: type
    numel: int
    data: np.ndarray | None = None


@dataclasses.dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, size, stride, *_rest) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_rest):
    return data


class _DtypeMarker:
    """Stands for ``torch.FloatStorage`` & co. in a persistent id: only its dtype is used."""

    def __init__(self, dtype):
        self.dtype = dtype


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path: str, storages: dict[str, _Storage]):
        super().__init__(file)
        self.path, self.storages = path, storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return _DtypeMarker(STORAGE_DTYPES[name])
        raise WeightsFormatError(self.path, f"refused to load {module}.{name}: not part of a tensor state dict")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsFormatError(self.path, f"unknown persistent id {pid!r}")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if len(pid) > 5 and pid[5] is not None:
            raise WeightsFormatError(self.path, "storage views are not supported")
        if not isinstance(kind, _DtypeMarker):
            raise WeightsFormatError(self.path, f"unknown storage type {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, kind.dtype, numel)
        return self.storages[key]


def _tensor(ref: _TensorRef, path: str) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise WeightsFormatError(path, f"storage {ref.storage.key} has no data")
    item = data.itemsize
    end = ref.offset + sum((s - 1) * st for s, st in zip(ref.size, ref.stride)) + 1 if ref.size else ref.offset + 1
    if ref.offset < 0 or end > data.size or any(st < 0 for st in ref.stride):
        raise WeightsFormatError(path, f"tensor outside its storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], ref.size, [st * item for st in ref.stride])
    return np.array(view)


def _state_dict(obj, storages: dict[str, _Storage], path: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, _TensorRef) for k, v in obj.items()):
        raise WeightsFormatError(path, "not a state dict of named tensors")
    return {k: _tensor(v, path) for k, v in obj.items()}


def _load_zip(path: str) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise WeightsFormatError(path, "zip archive without exactly one data.pkl")
        prefix = pkl[0][:-len("data.pkl")]
        obj = _Unpickler(io.BytesIO(z.read(pkl[0])), path, storages).load()
        for key, st in storages.items():
            try:
                raw = z.read(f"{prefix}data/{key}")
            except KeyError as e:
                raise WeightsFormatError(path, f"storage {key} missing from the archive") from e
            st.data = np.frombuffer(raw, dtype=np.dtype(st.dtype).newbyteorder("<"))
    return _state_dict(obj, storages, path)


def _load_legacy(path: str, f) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}
    magic = _Unpickler(f, path, storages).load()
    if magic != LEGACY_MAGIC:
        raise WeightsFormatError(path, "neither a zip archive nor a legacy torch.save stream")
    _Unpickler(f, path, storages).load()  # protocol version
    info = _Unpickler(f, path, storages).load()
    if not isinstance(info, dict) or not info.get("little_endian", False):
        raise WeightsFormatError(path, "big-endian or unknown system info")
    obj = _Unpickler(f, path, storages).load()
    keys = _Unpickler(f, path, storages).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise WeightsFormatError(path, "storage key list does not match the tensors")
    for key in map(str, keys):
        st = storages[key]
        head = f.read(8)
        if len(head) != 8:
            raise WeightsFormatError(path, f"truncated before storage {key}")
        numel = int(np.frombuffer(head, "<i8")[0])
        size = numel * np.dtype(st.dtype).itemsize
        raw = f.read(size)
        if numel != st.numel or len(raw) != size:
            raise WeightsFormatError(path, f"storage {key}: expected {st.numel} elements, file has {numel}")
        st.data = np.frombuffer(raw, dtype=np.dtype(st.dtype).newbyteorder("<"))
    return _state_dict(obj, storages, path)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{name: np.ndarray}`` from a ``torch.save``-d state dict. Raises ``WeightsFormatError`` (naming the
    file and the reason) for anything else, ``OSError`` for an unreadable file."""
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    try:
        with open(path, "rb") as f:
            return _load_legacy(path, f)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        if isinstance(e, WeightsFormatError):
            raise
        raise WeightsFormatError(path, f"not a torch state dict ({e})") from e
