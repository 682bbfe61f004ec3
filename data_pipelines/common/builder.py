"""The base TFDS builder every fer-jax dataset subclasses.

A subclass declares its labels, manual-download instructions and protocol, and implements
``_list_sources(manual_dir) -> {split: [ClipSource | ImageSource]}`` from the dataset's official
layout. The base does the rest: manual-dir checks, extraction + identity embedding per source (in
this process, a local process pool, or Beam), skipping and recording corrupt inputs, and metadata.
"""

from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import hashlib
import inspect
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from etils import epath

from data_pipelines.common import features as features_lib
from data_pipelines.common.manual import ManualDirError, check_manual_dir
from data_pipelines.common.sources import SYNTH_AUS, BuildSettings, init_worker, run_source
from data_pipelines.tf_compat import import_tfds

tfds = import_tfds()
log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class FerConfig(tfds.core.BuilderConfig):
    """Build options recorded with the dataset. ``identity_backbone``: ``"dlib"`` or ``"flax:<dir>"``."""

    size: int = 112
    gop: int = 12
    mode: str = "accumulate"
    identity_backbone: str = "dlib"


def config_name(kind: str, size: int, gop: int, mode: str, identity_backbone: str) -> str:
    """A TFDS-safe config name; a flax checkpoint path is reduced to a short hash of the spec."""
    bb = identity_backbone.partition(":")[0]
    if bb != identity_backbone:
        bb += hashlib.sha1(identity_backbone.encode()).hexdigest()[:8]
    if kind == "image":
        return f"size{size}_{bb}"
    return f"size{size}_gop{gop}_{mode}_{bb}"


class FerBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the fer-jax builders. Extra constructor arguments (not part of the dataset identity):

    * ``backbone``: an identity-backbone object used instead of building one from the config's spec
      (tests inject a cheap one); the metadata records its ``name``.
    * ``workers``: processes for local parallel generation (1 = in this process; > 1 spawns them, so a
      calling script needs the ``if __name__ == "__main__":`` guard).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release."}
    KIND: ClassVar[str] = "video"  # "video" (compressed tensors) or "image" (stills)
    LABELS: ClassVar[Sequence[str]] = ()
    AUS: ClassVar[Sequence[int]] = SYNTH_AUS
    PROTOCOL: ClassVar[str] = ""
    REQUIRED: ClassVar[Sequence[str]] = ()  # paths that must exist under manual_dir ("a|b" = either)
    SUPPORTS_BEAM: ClassVar[bool] = False  # large datasets: distributed generation when a beam_runner is given
    # A split smaller than this many sources per worker is built in-process: spawning workers (and
    # loading the backbone in each) costs seconds, more than a few clips take to extract.
    POOL_MIN_SOURCES_PER_WORKER: ClassVar[int] = 16

    @classmethod
    def make_config(cls, size: int = 112, gop: int = 12, mode: str = "accumulate",
                    identity_backbone: str = "dlib") -> FerConfig:
        name = config_name(cls.KIND, size, gop, mode, identity_backbone)
        desc = f"size={size} identity_backbone={identity_backbone}"
        if cls.KIND == "video":
            desc = f"size={size} gop={gop} mode={mode} identity_backbone={identity_backbone}"
        return FerConfig(name=name, description=desc, size=size, gop=gop, mode=mode,
                         identity_backbone=identity_backbone)

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        # TFDS's own lookup goes through importlib_resources, a package tensorflow-datasets uses but
        # does not declare; the source file is all TFDS needs (it looks for checksums beside it).
        return epath.Path(inspect.getfile(cls))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "BUILDER_CONFIGS" not in cls.__dict__:
            cls.BUILDER_CONFIGS = [cls.make_config()]

    def __init__(self, *, backbone: Any = None, workers: int = 1, **kwargs):
        self._backbone = backbone
        self._injected = backbone
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._workers = max(1, int(workers))
        self._beam_runner = None
        self.skipped: list[dict[str, str]] = []
        config = kwargs.get("config")
        if isinstance(config, FerConfig) and config.name in {c.name for c in self.BUILDER_CONFIGS}:
            kwargs["config"] = config.name  # TFDS rejects a custom config named like a declared one
        super().__init__(**kwargs)

    # -- identity ---------------------------------------------------------------------------
    def backbone(self):
        if self._backbone is None:
            from fer_jax.identity import get_backbone

            self._backbone = get_backbone(self.builder_config.identity_backbone)
        return self._backbone

    def settings(self) -> BuildSettings:
        c = self.builder_config
        return BuildSettings(size=c.size, gop=c.gop, mode=c.mode, identity_backbone=c.identity_backbone,
                             num_aus=len(self.AUS))

    # -- TFDS hooks -----------------------------------------------------------------------------
    def _info(self):
        c = self.builder_config
        bb = self.backbone()
        if self.KIND == "image":
            feats = features_lib.image_features(size=c.size, label_names=self.LABELS, identity_dim=bb.dim)
        else:
            feats = features_lib.video_features(size=c.size, gop=c.gop, label_names=self.LABELS,
                                                num_aus=len(self.AUS), identity_dim=bb.dim)
        description = (f"{(self.__doc__ or '').strip()}\n\nProtocol: {self.PROTOCOL}\n"
                       f"Identity backbone: {bb.name} ({c.identity_backbone}), {bb.dim}-D.")
        return tfds.core.DatasetInfo(
            builder=self,
            description=description,
            features=feats,
            metadata=tfds.core.MetadataDict(
                identity_backbone=bb.name, identity_backbone_spec=c.identity_backbone,
                identity_dim=int(bb.dim), protocol=self.PROTOCOL, aus=list(self.AUS), skipped=[]),
        )

    def _download_and_prepare(self, dl_manager, download_config=None):
        self._beam_runner = getattr(download_config, "beam_runner", None) or getattr(
            download_config, "beam_options", None)
        try:
            return super()._download_and_prepare(dl_manager, download_config=download_config)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    def manual_root(self, dl_manager) -> str:
        """The checked manual_dir; a missing/empty/incomplete one raises ``ManualDirError``."""
        instructions = self.MANUAL_DOWNLOAD_INSTRUCTIONS or ""
        try:
            manual = dl_manager.manual_dir
        except AssertionError:
            raise ManualDirError(self.name, str(getattr(dl_manager, "_manual_dir", None)),
                                 "does not exist or is empty", instructions) from None
        return check_manual_dir(self.name, manual, self.REQUIRED, instructions)

    def _split_generators(self, dl_manager):
        splits = self._list_sources(self.manual_root(dl_manager))
        self.record_subjects(splits)
        return {name: self._generate_examples(sources) for name, sources in splits.items() if sources}

    def record_subjects(self, splits: dict[str, list]) -> None:
        """Store the sorted subject list in the metadata: the input pipeline's subject -> int map."""
        subjects = sorted({s.subject for sources in splits.values() for s in sources})
        self.info.metadata["subjects"] = subjects

    @abc.abstractmethod
    def _list_sources(self, manual_dir: str) -> dict[str, list]:
        """Official layout -> {split name: [ClipSource | ImageSource]}."""

    def _generate_examples(self, sources: Sequence):
        settings = self.settings()
        if self._beam_runner is not None and self.SUPPORTS_BEAM:
            beam = tfds.core.lazy_imports.apache_beam
            jobs = [(s, settings, None) for s in sources]  # each Beam worker loads the backbone from the spec
            return beam.Create(jobs) | beam.FlatMap(_beam_examples)
        return self._local_examples(sources, settings)

    def _local_examples(self, sources: Sequence, settings: BuildSettings) -> Iterator[tuple[str, dict]]:
        if self._workers == 1 or len(sources) < max(2, self.POOL_MIN_SOURCES_PER_WORKER * self._workers):
            backbone = self.backbone()
            results = (run_source((s, settings, backbone)) for s in sources)
            yield from self._collect(results)
            return
        # spawn, not fork: this process has TensorFlow's (and maybe JAX's) threads running. A script
        # that builds with workers > 1 therefore needs the `if __name__ == "__main__":` guard.
        # Workers load the backbone from the config's spec once each; an injected one is sent once.
        # One pool serves every split (worker start-up, e.g. importing JAX for a Flax backbone, is paid once).
        if self._pool is None:
            injected = self._injected if self._injected is not None and _picklable(self._injected) else None
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                initargs=(injected,))
        results = self._pool.map(run_source, [(s, settings, None) for s in sources], chunksize=1)
        yield from self._collect(results)

    def skip(self, path: str, error: str) -> None:
        """Record an input that cannot be used; the build goes on without it."""
        log.warning("skipping %s: %s", path, error)
        self.skipped.append({"path": str(path), "error": error})
        self.info.metadata["skipped"] = list(self.skipped)

    def _collect(self, results) -> Iterator[tuple[str, dict]]:
        for path, examples, error in results:
            if error is not None:
                self.skip(path, error)
                continue
            yield from examples


def _picklable(obj) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:  # noqa: BLE001 - any pickling failure means "load it from the spec instead"
        return False


def _beam_examples(job):
    path, examples, error = run_source(job)
    if error is not None:
        log.warning("skipping %s", error)
    yield from examples
