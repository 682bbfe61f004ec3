"""Config sections -> settings dataclasses: one home for every default, unknown keys are errors.

A config file (``configs/...``) states an experiment; the defaults of every field live in the
dataclass of the part that reads it (the trainer's :class:`TrainSettings`, a method's sections, the
input pipeline's ``InputSettings``). ``build(cls, section, where)`` makes the dataclass from a config
section and raises :class:`ConfigError` naming the full dotted key and the known ones when the
section holds a key the dataclass lacks: ``c.mi.wieght = 0`` stops the run instead of being ignored.
This module imports nothing from fer_jax: every layer may use it.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config names a key no part of fer-jax reads, or a value of the wrong kind."""


def plain(value: Any) -> Any:
    """ConfigDicts / FieldReferences -> plain dicts and values (tuples stay tuples)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(plain(v) for v in value)
    if isinstance(value, tuple):
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
        ftype = fields[name].type
        sub = _dataclass_type(cls, name, ftype)
        kwargs[name] = build(sub, value, f"{where}.{name}") if sub is not None and isinstance(value, Mapping) else value
    return cls(**kwargs)


def _dataclass_type(cls: type, name: str, ftype: Any) -> type | None:
    """The dataclass type of field ``name`` of ``cls`` (resolving string annotations), or None."""
    if isinstance(ftype, str):
        import typing

        try:
            ftype = typing.get_type_hints(cls).get(name)
        except Exception:  # an annotation that does not resolve: treat the value as plain data
            return None
    return ftype if dataclasses.is_dataclass(ftype) else None
