"""Feature groups: which batch keys the data path can produce, and from which part of a build.

A method declares the keys its steps read (``method.input_spec(run)``); the pipeline produces
exactly those (plus ``mask``), reading only the groups they belong to:

| group | keys | needs |
|---|---|---|
| ``compressed`` | ``residuals``, ``motion_vectors``, ``iframe`` | a video build |
| ``apex`` | ``apex_frame``, ``has_apex`` | a video build |
| ``frames`` | ``frames`` | a video build made with ``fer-jax build ... --store-frames`` |
| ``au`` | ``au_intensity``, ``au_mask`` | a video build of an AU dataset (per-frame intensities) |
| ``position`` | ``clip_key``, ``frame_index`` | a video build (stable hash of the clip id; frame numbers) |
| ``image`` | ``image`` | a still-image build |
| ``label`` / ``identity`` / ``identity_embedding`` | the key itself | any build |

A key no group provides, or a group the build cannot provide, is a :class:`MissingFeatureError` naming
the dataset, the key and what to do. Without a spec the pipeline serves the default compressed (or
still-image) contract unchanged (:func:`default_keys`). TF-free: ``fer_jax`` may import it.
"""

from __future__ import annotations

from collections.abc import Iterable

KEY_GROUPS: dict[str, str] = {
    "residuals": "compressed", "motion_vectors": "compressed", "iframe": "compressed",
    "apex_frame": "apex", "has_apex": "apex",
    "frames": "frames",
    "au_intensity": "au", "au_mask": "au",
    "clip_key": "position", "frame_index": "position",
    "image": "image",
    "label": "label", "identity": "identity", "identity_embedding": "identity_embedding",
    "mask": "mask",
}
VIDEO_GROUPS = ("compressed", "apex", "frames", "au", "position")
AU_DATASETS = ("disfa", "bp4d", "synthface")  # builders whose examples carry per-frame AU intensities
STORE_FRAMES_FLAG = "--store-frames"


class MissingFeatureError(ValueError):
    """A method asks for a batch key that this dataset (or build) cannot provide."""

    def __init__(self, dataset: str, key: str, reason: str):
        self.dataset, self.key, self.reason = dataset, key, reason
        super().__init__(f"dataset {dataset!r} cannot provide batch key {key!r}: {reason}")


def default_keys(is_video: bool, has_au: bool) -> tuple[str, ...]:
    """The contract served when no spec is given (ARCHITECTURE §3, unchanged)."""
    if not is_video:
        return ("label", "identity", "identity_embedding", "image", "mask")
    keys = ("label", "identity", "identity_embedding", "mask", "residuals", "motion_vectors", "iframe",
            "apex_frame", "has_apex")
    return keys + (("au_intensity",) if has_au else ())


def check_keys(dataset: str, keys: Iterable[str], *, is_video: bool, has_frames: bool,
               has_au: bool) -> dict[str, set[str]]:
    """Group -> requested keys, after checking that the build can provide each key."""
    groups: dict[str, set[str]] = {}
    for key in keys:
        group = KEY_GROUPS.get(key)
        if group is None:
            raise MissingFeatureError(dataset, key, f"no feature group provides it; known keys: "
                                      f"{', '.join(sorted(KEY_GROUPS))}")
        if group in VIDEO_GROUPS and not is_video:
            raise MissingFeatureError(dataset, key, "it is a still-image dataset (it provides 'image')")
        if group == "image" and is_video:
            raise MissingFeatureError(dataset, key, "it is a video dataset; use 'frames' for decoded RGB")
        if group == "frames" and not has_frames:
            raise MissingFeatureError(dataset, key, f"this build stores no decoded frames; rebuild it with "
                                      f"`fer-jax build {dataset} {STORE_FRAMES_FLAG} ...`")
        if group == "au" and not has_au:
            raise MissingFeatureError(dataset, key, f"it has no per-frame AU intensities (AU datasets: "
                                      f"{', '.join(AU_DATASETS)})")
        groups.setdefault(group, set()).add(key)
    return groups
