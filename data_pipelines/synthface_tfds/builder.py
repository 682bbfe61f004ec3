"""SynthFace as a TFDS dataset: the procedural face videos of ``data_pipelines.synthface`` extracted to
compressed-domain tensors, with identity, apex frame and per-frame AU intensities."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, ClassVar

import numpy as np

from data_pipelines.common.builder import FerBuilder, FerConfig, config_name
from data_pipelines.common.face_crop_builder import FaceCropBuilder, face_protocol
from data_pipelines.common.sources import SYNTH_AUS, ClipSource, SourceError
from data_pipelines.synthface.facs import EXPRESSIONS
from data_pipelines.tf_compat import import_tfds

tfds = import_tfds()


@dataclasses.dataclass(eq=False)
class SynthFaceConfig(FerConfig):
    """Also fixes the rendered set used when no ``source_dir`` is given."""

    identities: int = 40
    clips_per_identity: int = 2
    frames: int = 32
    regime: str = "lab"
    seed: int = 0


# A wild build renders its movie frames at this multiple of the crop size, so the tracked face (a third to a
# half of the frame's width, scene.WILD_VIEW) is cropped at about its native resolution.
WILD_RENDER_SCALE = 2


class SynthFace(FaceCropBuilder, FerBuilder):
    """SynthFace: 7 expressions from EMFACS AU prototypes on procedural identities (no download).

    Lab builds hold the whole frame (CK+-like: frontal, centred). Wild builds hold the tracked face, cropped
    from the movie-like frame by the face module the DFEW/AFEW builders use (``FaceCropBuilder``; per-clip
    tracker records in ``metadata["faces"]``), as DFEW is released (``Clip/clip_224x224``)."""

    name = "synthface"
    LABELS = EXPRESSIONS
    AUS = SYNTH_AUS
    MANUAL_DOWNLOAD_INSTRUCTIONS = None
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "First release.",
        "1.1.0": "Wild builds as DFEW is released: clips are expression-dominant, as trimmed movie clips are "
                  "(the peak holds for 55-85 % of a clip, was 10-40 %; onset or offset may be cut by the "
                  "clip's ends: data_pipelines.synthface.facs.wild_timeline); the frame is a wider movie frame "
                  "(scene.WILD_VIEW) rendered at twice the build size, and the build holds the tracked face "
                  "cropped from it (face module, per-clip records). Lab builds are unchanged.",
    }
    PROTOCOL = ("Splits train/val/test as written by the generator (identity-disjoint). subject = identity "
                "id; apex_index and apex_frame from the renderer (decoded from the stored video); "
                "au_intensity [T, 12] per frame in DISFA AU order. Reads source_dir/labels.jsonl + videos, "
                "or renders the set described by the builder config when no source_dir is given. Wild "
                "builds only:") + face_protocol(FaceCropBuilder.FACE_CROP)

    @classmethod
    def crops_faces(cls, config: Any) -> bool:
        """Wild builds only: a lab build never makes a detector, so it never resolves ``auto`` (nor says how)."""
        regime = getattr(config, "regime", None)
        return regime == "wild" if regime is not None else "_wild_" in str(config or "")

    def settings(self):
        """The tracked-face crop in the wild regime only (lab frames are already the face)."""
        s = super().settings()
        return s if self.builder_config.regime == "wild" else dataclasses.replace(s, face_crop=None)

    def _info(self):
        info = super()._info()
        if self.builder_config.regime != "wild":
            info.metadata.pop("face_crop", None)
            info.metadata.pop("faces", None)
        return info

    @classmethod
    def make_config(cls, size: int = 112, gop: int = 12, mode: str = "accumulate",
                    identity_backbone: str = "dlib", store_frames: bool = False, *, identities: int = 40,
                    clips_per_identity: int = 2, frames: int = 32, regime: str = "lab",
                    seed: int = 0) -> SynthFaceConfig:
        """``frames`` = frames rendered per clip; ``store_frames`` = keep decoded frames in the build."""
        name = config_name("video", size, gop, mode, identity_backbone, store_frames)
        name += f"_{regime}_i{identities}c{clips_per_identity}f{frames}s{seed}"
        return SynthFaceConfig(
            name=name, size=size, gop=gop, mode=mode, identity_backbone=identity_backbone,
            store_frames=store_frames, identities=identities, clips_per_identity=clips_per_identity,
            frames=frames, regime=regime, seed=seed,
            description=f"size={size} gop={gop} mode={mode} identity_backbone={identity_backbone} "
                        f"store_frames={store_frames}")

    def __init__(self, *, source_dir: str | os.PathLike | None = None, **kwargs):
        self._source_dir = None if source_dir is None else os.fspath(source_dir)
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        root = self._source_dir
        if root is None:
            root = self._render(os.fspath(dl_manager.download_dir))
        splits = self._list_sources(root)
        self.record_subjects(splits)
        return {name: self._generate_examples(sources) for name, sources in splits.items() if sources}

    def _render(self, download_dir: str) -> str:
        from data_pipelines.synthface import generate

        c = self.builder_config
        out = os.path.join(download_dir, f"synthface_{c.name}")
        if not os.path.isfile(os.path.join(out, "labels.jsonl")):
            # pool_identities=0: the identity-encoder pre-training pool is not part of this dataset.
            size = c.size * (WILD_RENDER_SCALE if c.regime == "wild" else 1)
            generate(out, identities=c.identities, clips_per_identity=c.clips_per_identity, regime=c.regime,
                     frames=c.frames, size=size, seed=c.seed, pool_identities=0, workers=self._workers)
        return out

    def _list_sources(self, root: str) -> dict[str, list]:
        labels = os.path.join(root, "labels.jsonl")
        if not os.path.isfile(labels):
            raise SourceError(root, "no labels.jsonl: not a SynthFace directory (write one with `fer-jax synthface`)")
        splits: dict[str, list] = {}
        for n, line in enumerate(open(labels), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                expr = rec["expression"]
                label = EXPRESSIONS.index(expr) if isinstance(expr, str) else int(expr)
                path = rec["file"] if os.path.isabs(rec["file"]) else os.path.join(root, rec["file"])
                au = rec.get("au_intensity")
                source = ClipSource(clip_id=str(rec["clip_id"]), subject=str(rec["identity"]), label=label,
                                    video=path, fps=float(rec.get("fps", 25.0)),
                                    apex_index=int(rec.get("apex_index", -1)),
                                    au_intensity=None if au is None else np.asarray(au, np.float32))
                splits.setdefault(rec["split"], []).append(source)
            except (ValueError, KeyError, TypeError) as e:
                self.skip(f"{labels}:{n}", f"malformed label record ({type(e).__name__}: {e})")
        return splits
