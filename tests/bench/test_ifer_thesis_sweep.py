"""The thesis sweep's choice: settings are chosen on validation WAR, the test WAR only reported."""

from benchmarks.ifer.thesis_sweep import summarise


def row(variant, lr, steps, seed, val, test, rc=0):
    r = dict(encoder="e", variant=variant, lr=lr, steps=steps, seed=seed, rc=rc)
    return r | (dict(val_war=val, test_war=test) if rc == 0 else {})


def test_choice_uses_validation_and_fuller_settings():
    rows = [row("ifer", 1e-4, 600, s, 0.5, 0.9) for s in (0, 1)]  # best test, worse val
    rows += [row("ifer", 3e-4, 600, s, 0.6, 0.7) for s in (0, 1)]
    rows += [row("ifer", 3e-4, 1500, 0, 0.99, 0.99)]  # one seed only: not chosen over two
    rows += [row("ifer", 1e-4, 1500, 0, 0, 0, rc=124), row("ifer", 1e-4, 1500, 1, 0, 0, rc=124)]
    rows += [row("ifer", 3e-4, 1500, 1, 0, 0, rc=124), row("ifer", 3e-4, 1500, 1, 0.98, 0.97)]  # rerun
    table, summary = summarise(rows)
    chosen = summary["chosen"]["e/ifer"]
    assert (chosen["lr"], chosen["steps"]) == (3e-4, 1500) and chosen["test"] == [0.99, 0.97]
    rows[-1] = row("ifer", 3e-4, 1500, 1, 0.1, 0.1)  # with a weak second seed, 3e-4/600 wins on val
    assert summarise(rows)[1]["chosen"]["e/ifer"]["steps"] == 600
    assert "2 run(s) failed" in table and "lr0.0001/1500/s0" in table and "lr0.0003/1500/s1" not in table
