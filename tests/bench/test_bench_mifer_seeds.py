"""The MI-FER seed table: the margin cut, and the seed-noise row it is read against."""

import pytest

from benchmarks.mi_fer.bench_seeds import margin_cut, seed_noise, table


def row(seed, weight, linear, mlp, chance=0.05, war=0.8):
    return dict(seed=seed, mi_weight=weight, war=war, uar=war, chance=chance, mi_club=1.0,
                linear_acc=linear, linear_acc_sd=0.01, mlp_acc=mlp, mlp_acc_sd=0.01)


def test_margin_cut_is_relative_to_chance():
    assert margin_cut(0.07, 0.09, 0.05) == pytest.approx(0.5)
    assert margin_cut(0.11, 0.09, 0.05) == pytest.approx(-0.5)  # more identity than the baseline
    assert margin_cut(0.04, 0.05, 0.05) != margin_cut(0.04, 0.05, 0.05)  # no margin to cut: nan


def test_seed_noise_compares_baselines_of_different_seeds_only():
    rows = [row(0, 0.0, 0.09, 0.07), row(1, 0.0, 0.07, 0.06), row(0, 0.5, 0.05, 0.05)]
    noise = seed_noise(rows)
    # seed 1's baseline against seed 0's (margins 0.02 vs 0.04) and back; the λ = 0.5 row takes no part
    assert sorted(noise["linear_acc"]) == pytest.approx([-1.0, 0.5])
    assert sorted(noise["mlp_acc"]) == pytest.approx([-1.0, 0.5])
    assert table(rows, [0.5])[-1].startswith("| seed noise") and "-100% … +50%" in table(rows, [0.5])[-1]
    assert seed_noise(rows[:1] + rows[2:])["linear_acc"] == []  # one seed: no noise row
    assert not table(rows[:1] + rows[2:], [0.5])[-1].startswith("| seed noise")


def test_mean_row_counts_the_seeds_whose_probe_fell():
    rows = [row(0, 0.0, 0.09, 0.07), row(0, 0.5, 0.07, 0.08), row(1, 0.0, 0.09, 0.07), row(1, 0.5, 0.07, 0.06)]
    for r in rows[1::2]:
        base = next(b for b in rows if b["seed"] == r["seed"] and b["mi_weight"] == 0.0)
        for k in ("linear_acc", "mlp_acc"):
            r[f"{k}_cut"] = margin_cut(r[k], base[k], r["chance"])
    mean_row = next(line for line in table(rows, [0.5]) if line.startswith("| **mean") and "| 0.5 |" in line)
    assert "50% ± 0% (2/2 lower)" in mean_row and "0% ± 71% (1/2 lower)" in mean_row


def test_seed_noise_leaves_out_a_baseline_without_margin():
    rows = [row(0, 0.0, 0.09, 0.07), row(1, 0.0, 0.07, 0.06), row(2, 0.0, 0.05, 0.07)]  # seed 2 linear at chance
    linear = seed_noise(rows)["linear_acc"]
    assert len(linear) == 4 and all(c == c for c in linear)  # the two pairs measured against seed 2 are dropped
    assert "-100% … +100%" in table(rows, [])[-1]
