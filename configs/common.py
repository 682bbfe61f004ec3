"""What every method's configs share (big_vision's ``configs/common.py``): the ``arg`` variant syntax and
config sections made from the settings dataclasses.

``get_config(arg)`` takes comma-separated variant words and ``key=value`` pairs, e.g.
``synthface.py:tiny``, ``ckplus.py:fold=3``, ``dfew.py:tiny,fold=2``; :func:`parse_arg` reads them by a
spec each config family declares (MI-FER's :data:`VARIANTS` by default).

:func:`section` writes a config section from the dataclass that reads it: every field at the
dataclass's default (the one home of the defaults: ``fer_jax.core.settings.TrainSettings``, a
method's ``settings.py``, ``data_pipelines.settings.InputSettings``) plus the experiment's changes,
so a config states only what it changes and every field stays overridable on the command line
(``--config.mi.weight=0.1``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

# MI-FER's variant words and keys (name -> default, or (default, type) where the default is None); the
# default spec of parse_arg.
VARIANTS = dict(tiny=False, random=False, baseline=False, fold=(None, int))
_TRUE, _FALSE = ("", "1", "true", "yes"), ("0", "false", "no")


def parse_arg(arg: str | None, **spec: Any) -> ml_collections.ConfigDict:
    """``"tiny,fold=3"`` -> typed values by ``spec`` (big_vision's ``configs/common.py:parse_arg``).

    ``spec``: name -> default (its type converts the value) or ``(default, type)``; without ``spec``,
    :data:`VARIANTS`. A bare word sets a boolean to True; unknown names are an error. Every name of
    ``spec`` is in the result, at its default unless given.
    """
    spec = spec or VARIANTS
    out = {}
    for name, default in spec.items():
        out[name] = default[0] if isinstance(default, tuple) else default
    for part in filter(None, (p.strip() for p in (arg or "").split(","))):
        key, sep, value = part.partition("=")
        if key not in spec:
            words = ", ".join(k if _kind(spec[k]) is bool else f"{k}=..." for k in spec)
            raise ValueError(f"unknown config variant {key!r}; known: {words}")
        kind = _kind(spec[key])
        if kind is bool:
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError(f"config variant {key}={value!r}: not a boolean")
            out[key] = value.lower() in _TRUE
        elif not sep:
            raise ValueError(f"config variant {key!r} needs a value: {key}=...")
        else:
            out[key] = kind(value)
    return ml_collections.ConfigDict(out)


def _kind(default: Any) -> type:
    return default[1] if isinstance(default, tuple) else type(default)


def section(cls: type, **changes: Any) -> ml_collections.ConfigDict:
    """A config section of settings dataclass ``cls``: each field at the class's default, then ``changes``
    (a name the class lacks is an error). A field holding a dataclass becomes a nested section."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        values[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    for name, value in changes.items():
        if name not in values:
            raise ValueError(f"{cls.__name__} has no field {name!r}; fields: {', '.join(values)}")
        values[name] = value
    return ml_collections.ConfigDict(values)
