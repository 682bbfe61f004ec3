"""Subject-independent folds and the split names builders write.

Fold datasets store one TFDS split per fold (``fold0`` .. ``fold{n-1}``), each holding every clip of
its subjects, so no clip is written twice; fold k's training set is the union of the other folds,
which TFDS reads with split arithmetic (``"fold0+fold2+..."``). ``resolve_split`` turns the
readable names ``train@fold3`` / ``test@fold3`` into that arithmetic.

Which split is a test side (:func:`is_test_split`) is decided here too, so that no run chooses its
checkpoint on test data; :func:`carve_validation` gives a protocol without a validation split one,
from its training subjects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

_FOLD_SPLIT = re.compile(r"^(train|test)@fold(\d+)$")
# Splits that are a dataset's reported test side under another name: the official validation sets
# whose labels are the only held-out ones published (the literature reports them as test results).
TEST_SPLITS: dict[str, tuple[str, ...]] = {"sfew": ("val",), "afew": ("val",), "affectnet": ("validation",)}
CARVE_SEED = 0  # the seed every builder's carved validation split is drawn with (recorded in its metadata)


def is_test_split(dataset: str, split: str) -> bool:
    """Whether ``split`` (TFDS syntax: ``a+b``, ``a[:10%]``) reads any test data of ``dataset``: ``test``,
    ``test@foldK``, a bare ``foldK`` (a fold is some run's test side), or ``TEST_SPLITS[dataset]``."""
    for part in split.split("+"):
        name = part.split("[")[0].strip()
        if (name == "test" or name.startswith("test@") or re.fullmatch(r"fold\d+", name)
                or name in TEST_SPLITS.get(dataset, ())):
            return True
    return False


def carve_validation(items: Sequence, subject_of: Callable, fraction: float, seed: int = CARVE_SEED
                     ) -> tuple[list, list, list[str]]:
    """(train, val, the validation subjects): ``fraction`` of the training subjects (at least one, at most
    all but one), drawn with ``seed`` from the sorted subject list, moved to a validation split."""
    subjects = sorted({subject_of(x) for x in items})
    if len(subjects) < 2:
        raise ValueError(f"{len(subjects)} training subject(s) cannot give up a validation subject")
    n = min(max(1, int(round(fraction * len(subjects)))), len(subjects) - 1)
    rng = np.random.default_rng(seed)
    val = sorted(subjects[i] for i in rng.choice(len(subjects), n, replace=False))
    chosen = set(val)
    return [x for x in items if subject_of(x) not in chosen], [x for x in items if subject_of(x) in chosen], val


def subject_folds(subjects: Iterable[str], n_folds: int) -> dict[str, int]:
    """Subject -> fold. Subjects are sorted by id and dealt round-robin.

    Choice: the literature's "10-fold subject-independent" protocols (CK+, Oulu-CASIA, MMI) and DISFA/
    BP4D's 3 folds do not publish one partition; sorted round-robin is deterministic, reproducible
    from the subject list alone and balances fold sizes to within one subject.
    """
    unique = sorted(set(subjects))
    if len(unique) < n_folds:
        raise ValueError(f"{len(unique)} subjects cannot fill {n_folds} subject-independent folds")
    return {s: i % n_folds for i, s in enumerate(unique)}


def fold_names(n_folds: int) -> list[str]:
    return [f"fold{i}" for i in range(n_folds)]


def split_by_fold(items: Sequence, subject_of, n_folds: int) -> dict[str, list]:
    """Group items into ``fold{i}`` splits by their subject's fold."""
    folds = subject_folds((subject_of(x) for x in items), n_folds)
    out: dict[str, list] = {name: [] for name in fold_names(n_folds)}
    for x in items:
        out[f"fold{folds[subject_of(x)]}"].append(x)
    return out


def resolve_split(split: str, available: Iterable[str]) -> str:
    """``train@foldK`` -> ``"fold0+..."`` (every fold but K), ``test@foldK`` -> ``"foldK"``; others unchanged."""
    m = _FOLD_SPLIT.match(split)
    if not m:
        return split
    folds = sorted((s for s in available if re.fullmatch(r"fold\d+", s)), key=lambda s: int(s[4:]))
    k = f"fold{int(m.group(2))}"
    if k not in folds:
        raise ValueError(f"split {split!r}: the dataset has folds {folds}, not {k}")
    if m.group(1) == "test":
        return k
    return "+".join(f for f in folds if f != k)
