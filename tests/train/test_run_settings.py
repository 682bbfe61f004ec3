"""A config is parsed once into the RunSettings the method receives; resuming with another config is an
error naming the keys unless allowed (then recorded); every config family takes parse_arg from
configs/common.py."""

import glob
import json
import os

import pytest
import toy_config
from toy_method import ToyMethod
from train_helpers import REPO

import data_pipelines.settings as dp_settings
import fer_jax.core.settings as core_settings
from data_pipelines.settings import InputSettings
from fer_jax.commands import train as cli
from fer_jax.core.settings import RunSettings, TrainSettings, parse
from fer_jax.core.workdir import RESUMABLE_KEYS, ConfigChangeError
from fer_jax.train.trainer import train

TOY = os.path.join(os.path.dirname(__file__), "toy_config.py")


class RecordingToy(ToyMethod):
    """The toy method, recording what each hook is given."""

    seen: list = []

    def create(self, run, rngs):
        RecordingToy.seen.append(("create", run))
        return super().create(run, rngs)

    def input_spec(self, run):
        RecordingToy.seen.append(("input_spec", run))
        return super().input_spec(run)

    def on_start(self, run, workdir):
        RecordingToy.seen.append(("on_start", run))


def _config(**over):
    c = toy_config.get_config()
    c.total_steps, c.eval_every, c.ckpt_every = 2, 0, 2
    for k, v in over.items():
        c[k] = v
    return c


def test_train_parses_the_config_once_and_hands_the_method_that_object(tmp_path, monkeypatch):
    built = []

    def counting(build):
        def wrapped(cls, section, where):
            built.append(cls)
            return build(cls, section, where)
        return wrapped

    monkeypatch.setattr(core_settings, "build", counting(core_settings.build))
    monkeypatch.setattr(dp_settings, "build", counting(dp_settings.build))
    RecordingToy.seen = []
    train(_config(method="test_run_settings:RecordingToy"), str(tmp_path / "wd"))
    hooks = [name for name, _ in RecordingToy.seen]
    assert hooks[0] == "create" and {"input_spec", "on_start"} <= set(hooks)
    runs = {id(run) for _, run in RecordingToy.seen}
    assert len(runs) == 1 and isinstance(RecordingToy.seen[0][1], RunSettings)  # one object, everywhere
    # Each section was built once for the whole run (evals' own EvalSettings are not a section of these).
    for cls in (TrainSettings, InputSettings, RecordingToy.settings["toy"]):
        assert built.count(cls) == 1, (cls.__name__, built)


def test_run_settings_hold_every_section_typed():
    c = _config()
    run = parse(c, ToyMethod())
    assert run.train.total_steps == 2 and run.train.class_names == ("a", "b", "c")
    assert run.input.size == 4 and run.input.random.identity_dim == 4
    assert run.toy is run.sections["toy"] and run.toy.hidden == 16
    with pytest.raises(AttributeError, match="no section 'mi'"):
        run.mi  # noqa: B018


def test_resuming_with_another_config_names_the_keys_and_the_flag_records_it(tmp_path):
    wd = str(tmp_path / "wd")
    train(_config(), wd)
    # How long and how often may change on resume without the flag (here: train 2 steps longer).
    assert {"total_steps", "eval_every", "ckpt_every", "log_every"} <= set(RESUMABLE_KEYS)
    # A default written out (best_mode="max" is TrainSettings') means the same run: no change.
    train(_config(total_steps=4, ckpt_every=4, best_mode="max"), wd)
    assert json.loads((tmp_path / "wd" / "config.json").read_text())["total_steps"] == 4
    changed = _config(total_steps=6, seed=3)
    changed.toy.hidden = 8
    with pytest.raises(ConfigChangeError, match=r"seed, toy\.hidden differ") as err:
        train(changed, wd)
    assert err.value.keys == ["seed", "toy.hidden"]
    assert json.loads((tmp_path / "wd" / "config.json").read_text())["seed"] == 0  # nothing written
    changed = _config(total_steps=6, seed=3)
    out = train(changed, wd, allow_config_change=True)
    assert out["step"] == 6
    rows = [json.loads(line) for line in (tmp_path / "wd" / "config_changes.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 2 and set(rows[0]["changes"]) == {"total_steps", "ckpt_every"}
    assert rows[-1]["step"] == 4 and rows[-1]["allowed"] is True
    assert rows[-1]["changes"]["seed"] == {"old": 0, "new": 3} and "total_steps" in rows[-1]["changes"]
    assert json.loads((tmp_path / "wd" / "config.json").read_text())["seed"] == 3


def test_the_train_command_exits_2_naming_the_keys_and_takes_allow_config_change(tmp_path, capsys):
    wd = f"--workdir={tmp_path}"
    base = [f"--config={TOY}", wd, "--config.total_steps=2", "--config.eval_every=0", "--config.ckpt_every=2"]
    assert cli.main(base) == 0
    assert cli.main(base + ["--config.total_steps=3", "--config.toy.lr=0.1"]) == 2
    assert "toy.lr differ" in capsys.readouterr().err
    assert cli.main(base + ["--config.total_steps=3", "--config.toy.lr=0.1", "--allow_config_change"]) == 0
    assert "toy.lr" in (tmp_path / "config_changes.jsonl").read_text()


def test_every_config_family_takes_parse_arg_from_configs_common():
    from configs import common

    families = sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.py")))
    assert families
    for path in families:
        text = open(path).read()
        assert "def parse_arg" not in text, path
        if "parse_arg(" in text:
            assert "from configs.common import parse_arg" in text, path
    assert "def parse_arg" in open(common.__file__).read()
