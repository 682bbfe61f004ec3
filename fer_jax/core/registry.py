"""Registry of methods the shared trainer can run (``config.method``).

Entries are import paths, resolved lazily (``importlib``) so that choosing one method never imports another's
code, and so that this bottom layer names the methods without importing them (no arrow up to ``methods``).
"""

from __future__ import annotations

import importlib
from typing import Any

from fer_jax.core.method import Method

METHODS: dict[str, str] = {
    "mi_fer": "fer_jax.methods.mi_fer.method:MiFer",
    "rgb_baseline": "fer_jax.methods.rgb_baseline.method:RgbBaseline",
    "au_contrastive": "fer_jax.methods.au.contrastive:AuContrastive",
    "au_intensity": "fer_jax.methods.au.regressor:AuIntensity",
    "stt": "fer_jax.methods.stt.method:Stt",
    "stylegan2": "fer_jax.methods.stylegan2.method:StyleGAN2",
    "ifer": "fer_jax.methods.ifer.method:Ifer",
}


def get_method(name: str) -> Method:
    """Instantiate the method registered under ``name``."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    module_name, _, attr = METHODS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)()


def resolve_method(name: str) -> Any:
    """A registered method name (:data:`METHODS`) or an import path ``"module:Class"``.

    Import paths let a user (or a test) run a method that is not in the registry.
    """
    if ":" in name:
        module_name, _, attr = name.partition(":")
        return getattr(importlib.import_module(module_name), attr)()
    return get_method(name)
