"""Checks on a hand-downloaded dataset directory that fail with a message a user can act on."""

from __future__ import annotations

import os
from collections.abc import Sequence


class ManualDirError(ValueError):
    """The manual download directory is missing, empty or lacks a file the dataset's layout needs."""

    def __init__(self, dataset: str, manual_dir: str | None, reason: str, instructions: str):
        self.dataset, self.manual_dir, self.reason = dataset, manual_dir, reason
        super().__init__(
            f"{dataset}: manual_dir {manual_dir!r} {reason}.\n"
            f"This dataset is licensed and must be downloaded by hand. Download instructions:\n"
            f"{instructions.strip()}\n"
            f"Then pass the folder with `fer-jax build {dataset} --manual-dir DIR` or "
            f"tfds.download.DownloadConfig(manual_dir=DIR)."
        )


def check_manual_dir(dataset: str, manual_dir: str | os.PathLike | None, required: Sequence[str],
                     instructions: str) -> str:
    """Return ``manual_dir`` as a string if it exists and holds every ``required`` relative path.

    A required entry may hold alternatives separated by ``|`` (e.g. ``"Train_AFEW|Train"``).
    """
    if manual_dir is None:
        raise ManualDirError(dataset, None, "was not given", instructions)
    root = os.fspath(manual_dir)
    if not os.path.isdir(root):
        raise ManualDirError(dataset, root, "does not exist", instructions)
    if not os.listdir(root):
        raise ManualDirError(dataset, root, "is empty", instructions)
    for rel in required:
        options = rel.split("|")
        if not any(os.path.exists(os.path.join(root, o)) for o in options):
            raise ManualDirError(dataset, root, f"has no {' or '.join(options)!s}", instructions)
    return root


def first_existing(root: str, options: Sequence[str]) -> str:
    """The first of ``options`` (relative paths) that exists under ``root``."""
    for o in options:
        p = os.path.join(root, o)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"none of {list(options)} under {root}")
