"""Config sections -> settings dataclasses, and the input pipeline's :class:`InputSettings`.

One home for every default: a config file states an experiment, the dataclass of the part that reads a
section holds the defaults of its fields. ``build(cls, section, where)`` makes the dataclass from a
config section and raises :class:`ConfigError` naming the full dotted key (and the closest known one)
when the section holds a key the dataclass lacks, so ``c.input.segmnets = 8`` stops the run instead of
being ignored. The generic part lives here, at the bottom, because ``data_pipelines`` may import nothing
from ``fer_jax``; ``fer_jax.core.settings`` re-exports it. Imports neither TensorFlow nor fer_jax.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config names a key no part of fer-jax reads, or a value of the wrong kind."""


def plain(value: Any) -> Any:
    """ConfigDicts / FieldReferences -> plain dicts and values (lists become tuples)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def unknown_key_error(where: str, key: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown config key {where + '.' if where else ''}{key}{hint}; "
                       f"known keys{' of ' + where if where else ''}: {', '.join(sorted(known))}")


def check_keys(section: Mapping[str, Any] | None, known: list[str] | set[str], where: str) -> None:
    """Raise :class:`ConfigError` for the first key of ``section`` not in ``known``."""
    for key in sorted(section or {}):
        if key not in known:
            raise unknown_key_error(where, key, sorted(known))


def build(cls: type[T], section: Mapping[str, Any] | None, where: str) -> T:
    """``cls(**section)`` with unknown keys reported as :class:`ConfigError` (``where`` = dotted path).

    Nested sections stay plain dicts (a field that is itself a settings dataclass is built too).
    """
    values = plain(section) if section is not None else {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(values, set(fields), where)
    kwargs = {}
    for name, value in values.items():
        sub = _dataclass_type(cls, name, fields[name].type)
        kwargs[name] = build(sub, value, f"{where}.{name}") if sub is not None and isinstance(value, Mapping) else value
    return cls(**kwargs)


def _dataclass_type(cls: type, name: str, ftype: Any) -> type | None:
    """The dataclass type of field ``name`` of ``cls`` (resolving string annotations), or None."""
    if isinstance(ftype, str):
        try:
            ftype = typing.get_type_hints(cls).get(name)
        except Exception:  # an annotation that does not resolve: treat the value as plain data
            return None
    return ftype if dataclasses.is_dataclass(ftype) else None


@dataclasses.dataclass(frozen=True)
class RandomSettings:
    """``config.input.random``: sizes of the in-memory ``random`` dataset (``fer_jax/core/data.py``)."""

    num_train: int = 64
    num_val: int = 32
    num_identities: int = 8
    identity_dim: int = 16
    signal: float = 0.5  # scale of the class/identity patterns against unit noise


@dataclasses.dataclass(frozen=True)
class InputSettings:
    """``config.input``: every field the data path reads (tf.data pipeline and the ``random`` dataset).

    Temporal sampling (ARCHITECTURE §3): compressed inputs show ``segments`` P-frames (``segment_mode``
    tsn | onset); decoded ``frames`` show T = ``frames`` (or ``segments * frames_per_segment`` when 0)
    frames as T / ``frames_per_segment`` segments of consecutive frames (random offsets in training,
    segment centres at evaluation). ``window`` > 0 switches every temporal group to one contiguous
    window of that many frames with per-frame AU targets.
    """

    dataset: str = "random"
    data_dir: str | None = None
    builder_config: str = ""  # a build's config name; empty = found from size/gop/mode/backbone/frames
    identity_backbone: str = "dlib"  # the build's backbone spec: "dlib" | "flax:<checkpoint dir>"
    split_train: str = "train"
    split_val: str = "val"  # empty = no evaluation during training
    fold: int = -1  # informational: the fold named by split_train/split_val (fold configs set it)
    batch_size: int = 64  # global
    eval_batch_size: int = 0  # global; 0 = batch_size
    size: int = 112
    gop: int = 12
    mode: str = "accumulate"
    segments: int = 3
    segment_mode: str = "tsn"
    frames: int = 0
    frames_per_segment: int = 1
    window: int = 0
    shuffle_buffer: int = 1000
    augment: bool = False
    augment_shift: int = 2  # largest translation in 4-px cells (the MV grid's); 0 = flips only
    cache: bool = False
    random: RandomSettings = dataclasses.field(default_factory=RandomSettings)

    @property
    def num_frames(self) -> int:
        """T of the ``frames`` group."""
        if self.window > 0:
            return self.window
        return self.frames if self.frames > 0 else self.segments * self.frames_per_segment

    def global_batch(self, train: bool) -> int:
        return self.batch_size if train or self.eval_batch_size <= 0 else self.eval_batch_size


def validate_input(section: Mapping[str, Any] | InputSettings | None) -> InputSettings:
    """``config.input`` -> :class:`InputSettings`; unknown keys and bad values are :class:`ConfigError`."""
    s = section if isinstance(section, InputSettings) else build(InputSettings, section, "input")
    if s.size % 4 or s.size < 4:
        raise ConfigError(f"input.size must be a positive multiple of 4 (motion vectors are size/4), got {s.size}")
    if s.segment_mode not in ("tsn", "onset"):
        raise ConfigError(f"input.segment_mode must be 'tsn' or 'onset', got {s.segment_mode!r}")
    if s.frames_per_segment < 1 or s.num_frames % s.frames_per_segment:
        raise ConfigError(f"input.frames ({s.num_frames}) must be a multiple of input.frames_per_segment "
                          f"({s.frames_per_segment})")
    if min(s.segments, s.batch_size) < 1:
        raise ConfigError(f"input.segments and input.batch_size must be >= 1, got {s.segments}, {s.batch_size}")
    return s
