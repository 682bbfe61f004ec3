"""Subject folds and the train@foldK / test@foldK split names."""

import pytest

from data_pipelines.common.folds import resolve_split, split_by_fold, subject_folds


def test_subject_folds_balanced_deterministic_and_disjoint():
    subjects = [f"S{i:03d}" for i in (7, 3, 12, 5, 9, 1, 22)] * 3  # repeated: several clips per subject
    folds = subject_folds(subjects, 3)
    assert folds == subject_folds(list(reversed(subjects)), 3)  # order of listing does not matter
    sizes = [sum(1 for f in folds.values() if f == k) for k in range(3)]
    assert max(sizes) - min(sizes) <= 1
    items = [(s, n) for n, s in enumerate(subjects)]
    by_fold = split_by_fold(items, lambda x: x[0], 3)
    assert sum(len(v) for v in by_fold.values()) == len(items)
    seen = [{s for s, _ in v} for v in by_fold.values()]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])
    with pytest.raises(ValueError, match="cannot fill 10"):
        subject_folds(subjects, 10)


def test_resolve_split():
    splits = ["fold2", "fold0", "fold1", "fold10"] + [f"fold{i}" for i in range(3, 10)]
    assert resolve_split("test@fold3", splits) == "fold3"
    train = resolve_split("train@fold3", splits)
    assert train.split("+") == [f"fold{i}" for i in range(11) if i != 3]
    assert resolve_split("train", splits) == "train" and resolve_split("fold1+fold2", splits) == "fold1+fold2"
    with pytest.raises(ValueError, match="fold11"):
        resolve_split("test@fold11", splits)


def test_test_splits_are_named_and_carving_is_seeded():
    from data_pipelines.common.folds import carve_validation, is_test_split

    for split in ("test", "test@fold3", "fold1", "train+test", "test[:50%]"):
        assert is_test_split("rafdb", split), split
    for split in ("train", "val", "train@fold3", "validation"):
        assert not is_test_split("rafdb", split), split
    assert is_test_split("sfew", "val") and is_test_split("affectnet", "validation")  # the reported test sets
    items = [(f"s{i}", j) for i in range(14) for j in range(2)]
    train, val, subjects = carve_validation(items, lambda x: x[0], 1 / 7)
    assert len(subjects) == 2 and {x[0] for x in val} == set(subjects) and not {x[0] for x in train} & set(subjects)
    assert carve_validation(items, lambda x: x[0], 1 / 7)[2] == subjects  # the same seed, the same subjects
    assert carve_validation(items, lambda x: x[0], 1 / 7, seed=1)[2] != subjects
