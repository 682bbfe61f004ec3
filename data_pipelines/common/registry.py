"""Dataset name -> builder class, imported on demand (each import pulls in TensorFlow/TFDS)."""

from __future__ import annotations

import importlib

BUILDERS: dict[str, str] = {
    "synthface": "data_pipelines.synthface_tfds:SynthFace",
    "ckplus": "data_pipelines.ckplus:CkPlus",
    "oulu_casia": "data_pipelines.oulu_casia:OuluCasia",
    "mmi": "data_pipelines.mmi:Mmi",
    "dfew": "data_pipelines.dfew:Dfew",
    "afew": "data_pipelines.afew:Afew",
    "rafdb": "data_pipelines.rafdb:RafDb",
    "sfew": "data_pipelines.sfew:Sfew",
    "affectnet": "data_pipelines.affectnet:AffectNet",
    "disfa": "data_pipelines.disfa:Disfa",
    "bp4d": "data_pipelines.bp4d:Bp4d",
}


def builder_class(name: str):
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(BUILDERS))}")
    module, _, cls = BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
