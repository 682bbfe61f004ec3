"""The base TFDS builder every fer-jax dataset subclasses.

A subclass declares its labels, manual-download instructions and protocol, and implements
``_list_sources(manual_dir) -> {split: [ClipSource | ImageSource]}`` from the dataset's official
layout. The base does the rest: manual-dir checks, extraction + identity embedding per source (in
this process, a local process pool, or Beam), skipping and recording corrupt inputs, and metadata.

Build options are part of the builder-config name, so builds with different options live side by side
and a build keeps its name when the data dir moves: the identity backbone is named by its *content*
(a hash of the checkpoint's files, not its path: a copied workdir still finds its dataset), and
``store_frames`` (decoded JPEG frames besides the compressed tensors) adds ``_frames``.
"""

from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import hashlib
import inspect
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from etils import epath

from data_pipelines.common import features as features_lib
from data_pipelines.common.folds import CARVE_SEED, carve_validation
from data_pipelines.common.manual import ManualDirError, check_manual_dir
from data_pipelines.common.sources import SYNTH_AUS, BuildSettings, init_worker, run_source, worker_embedder
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
    store_frames: bool = False


def content_hash(path: str) -> str:
    """sha1 of a file's bytes, or of a folder's files (relative names + bytes, sorted): what a
    checkpoint *is*, wherever it lies."""
    h = hashlib.sha1()
    if os.path.isfile(path):
        files = [(os.path.basename(path), path)]
    else:
        files = sorted((os.path.relpath(os.path.join(d, f), path), os.path.join(d, f))
                       for d, _, names in os.walk(path) for f in names)
    for rel, full in files:
        h.update(rel.encode() + b"\0")
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def backbone_tag(identity_backbone: str) -> str:
    """``dlib`` -> ``dlib``; ``flax:<dir>`` -> ``flax`` + 8 hex digits of the checkpoint's content."""
    kind, _, arg = identity_backbone.partition(":")
    if not arg:
        return kind
    if not os.path.exists(arg):
        raise FileNotFoundError(f"identity backbone {identity_backbone!r}: {arg} does not exist")
    return kind + content_hash(arg)[:8]


def path_backbone_tag(identity_backbone: str) -> str:
    """The tag of builds made before content naming (a hash of the spec string, i.e. the path)."""
    kind = identity_backbone.partition(":")[0]
    return kind if kind == identity_backbone else kind + hashlib.sha1(identity_backbone.encode()).hexdigest()[:8]


def config_name(kind: str, size: int, gop: int, mode: str, identity_backbone: str, store_frames: bool = False,
                *, tag: str | None = None) -> str:
    """A TFDS-safe config name from the build options (``tag`` overrides the backbone's tag)."""
    bb = backbone_tag(identity_backbone) if tag is None else tag
    if kind == "image":
        return f"size{size}_{bb}"
    return f"size{size}_gop{gop}_{mode}_{bb}" + ("_frames" if store_frames else "")


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
                    identity_backbone: str = "dlib", store_frames: bool = False) -> FerConfig:
        if store_frames and cls.KIND != "video":
            raise ValueError(f"{cls.name} is a still-image dataset: store_frames applies to video datasets")
        name = config_name(cls.KIND, size, gop, mode, identity_backbone, store_frames)
        desc = f"size={size} identity_backbone={identity_backbone}"
        if cls.KIND == "video":
            desc = (f"size={size} gop={gop} mode={mode} identity_backbone={identity_backbone} "
                    f"store_frames={store_frames}")
        return FerConfig(name=name, description=desc, size=size, gop=gop, mode=mode,
                         identity_backbone=identity_backbone, store_frames=store_frames)

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

    def __init__(self, *, backbone: Any = None, backbone_factory: Any = None, workers: int = 1, **kwargs):
        self._backbone = backbone
        self._factory = backbone_factory
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
        """The injected embedder, or the factory's (made once)."""
        if self._backbone is None:
            if self._factory is None:
                raise ValueError(f"{self.name}: no identity embedder; pass backbone= or backbone_factory= "
                                 "(fer-jax build makes one from --identity-backbone)")
            self._backbone = self._factory()
        return self._backbone

    def settings(self) -> BuildSettings:
        c = self.builder_config
        return BuildSettings(size=c.size, gop=c.gop, mode=c.mode, identity_backbone=c.identity_backbone,
                             num_aus=len(self.AUS), store_frames=bool(getattr(c, "store_frames", False)))

    # -- TFDS hooks -----------------------------------------------------------------------------
    def _info(self):
        c = self.builder_config
        bb = self.backbone()
        if self.KIND == "image":
            feats = features_lib.image_features(size=c.size, label_names=self.LABELS, identity_dim=bb.dim)
        else:
            feats = features_lib.video_features(size=c.size, gop=c.gop, label_names=self.LABELS,
                                                num_aus=len(self.AUS), identity_dim=bb.dim,
                                                store_frames=bool(getattr(c, "store_frames", False)))
        description = (f"{(self.__doc__ or '').strip()}\n\nProtocol: {self.PROTOCOL}\n"
                       f"Identity backbone: {bb.name} ({c.identity_backbone}), {bb.dim}-D.")
        return tfds.core.DatasetInfo(
            builder=self,
            description=description,
            features=feats,
            metadata=tfds.core.MetadataDict(
                identity_backbone=bb.name, identity_backbone_spec=c.identity_backbone,
                identity_dim=int(bb.dim), store_frames=bool(getattr(c, "store_frames", False)),
                protocol=self.PROTOCOL, aus=list(self.AUS), skipped=[]),
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

    def carve_val(self, train: list, fraction: float) -> tuple[list, list]:
        """(train, val): ``fraction`` of the training subjects moved to a validation split
        (``folds.carve_validation``, seed ``CARVE_SEED``), recorded as ``carved_val`` in the metadata."""
        train, val, subjects = carve_validation(train, lambda s: s.subject, fraction)
        self.info.metadata["carved_val"] = {"seed": CARVE_SEED, "fraction": fraction, "subjects": subjects}
        return train, val

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
            if self._factory is None:
                raise ValueError(f"{self.name}: Beam generation needs backbone_factory= (workers load it)")
            jobs = [(s, settings, self._factory) for s in sources]  # each Beam worker makes the embedder once
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
        # Each worker gets the embedder once (pickled), or else makes its own from the factory.
        # One pool serves every split (worker start-up, e.g. importing JAX for a Flax backbone, is paid once).
        if self._pool is None:
            injected = self._backbone if self._backbone is not None and _picklable(self._backbone) else None
            if injected is None and self._factory is None:
                self.backbone()  # raises the no-embedder error here rather than in a worker
                raise ValueError(f"{self.name}: the identity embedder does not pickle; pass backbone_factory= "
                                 "so worker processes can make their own")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                initargs=(injected, self._factory))
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
    source, settings, factory = job
    path, examples, error = run_source((source, settings, worker_embedder(factory)))
    if error is not None:
        log.warning("skipping %s", error)
    yield from examples
