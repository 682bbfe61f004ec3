"""MI-FER's settings: unknown keys are errors, the dataclasses hold the only defaults, the configs agree.

States are built with ``nnx.eval_shape`` (shapes only, no parameters computed), so these run in seconds.
"""

import dataclasses

import ml_collections
import pytest
from flax import nnx

from configs.mi_fer import common
from fer_jax.core.registry import get_method
from fer_jax.core.settings import ConfigError, build, parse
from fer_jax.methods.mi_fer.method import SETTINGS
from fer_jax.methods.mi_fer.settings import ApexSettings, MiSettings, ModelSettings
from fer_jax.methods.rgb_baseline.method import ModelSettings as RgbModelSettings
from fer_jax.train.optim import OptimSettings

METHOD = get_method("mi_fer")
TOP = dict(seed=0, num_classes=7, total_steps=100)  # the trainer's fields (its TrainSettings)


def shapes(config: dict):
    run = parse(ml_collections.ConfigDict(config), METHOD)
    return nnx.eval_shape(lambda: METHOD.create(run, nnx.Rngs(0)))


def test_the_method_declares_its_four_sections():
    assert METHOD.settings == {"model": ModelSettings, "mi": MiSettings, "apex": ApexSettings, "optim": OptimSettings}
    assert get_method("rgb_baseline").settings == {"model": RgbModelSettings, "optim": OptimSettings}


@pytest.mark.parametrize("section, key", [("mi", "wieght"), ("model", "widht"), ("apex", "enabeld"),
                                          ("optim", "lr_decay"), ("mi.optim", "lrr")])
def test_an_unknown_key_in_any_section_is_a_config_error_naming_it(section, key):
    config = ml_collections.ConfigDict(dict(TOP, model={}, mi={"optim": {}}, apex={}, optim={}))
    node = config
    for part in section.split("."):
        node = node[part]
    node[key] = 0
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        parse(config, METHOD)


def test_rgb_baseline_sections_reject_unknown_keys_too():
    config = ml_collections.ConfigDict(dict(TOP, model=dict(encoder="tiny", use_mv=True)))
    with pytest.raises(ConfigError, match="model.use_mv"):
        parse(config, get_method("rgb_baseline"))


@pytest.mark.parametrize("section, key, value", [
    ("mi", "penalty", "nope"), ("mi", "estimator", "mine"), ("mi", "estimator_steps", 0),
    ("mi", "identity_norm", "cube"), ("mi", "critic_input", "cosine"), ("model", "dtype", "float8"),
    ("optim", "schedule", "linear"), ("optim", "name", "lion"), ("optim", "lr", -1.0)])
def test_bad_values_are_config_errors_naming_the_key(section, key, value):
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        build(METHOD.settings[section], {key: value}, section)


def test_empty_sections_give_the_dataclass_defaults():
    built = dict(parse(ml_collections.ConfigDict(TOP), METHOD).sections)
    assert built == {name: cls() for name, cls in SETTINGS.items()}
    assert build(MiSettings, {"optim": {}}, "mi").optim == OptimSettings()  # a given section: the class's own


def test_a_config_without_sections_builds_the_state_from_the_dataclass_defaults():
    """No default lives in method code: every value of the state comes from the dataclasses."""
    st = shapes(TOP)
    mi, model = MiSettings(), ModelSettings()
    assert st.hparams.mi == mi and st.hparams.apex == ApexSettings() and st.net.apex is None
    assert st.memory.x.shape == (mi.refit_memory, model.feature_dim) and st.memory.y.shape[1] == mi.identity_dim
    assert st.estimator.mu_hidden.out_features == mi.hidden
    assert st.net.encoder.use_mv == model.use_mv and st.net.encoder.residual_net.stem.out_features == model.width
    assert st.net.encoder.mv_net.stem.out_features == model.mv_width
    # A changed default reaches the state: the dataclasses are the place they are read from.
    other = dict(TOP, mi=dict(refit_memory=7, hidden=9), model=dict(encoder="tiny", width=4, use_mv=False))
    st = shapes(other)
    assert st.memory.x.shape == (7, model.feature_dim) and st.estimator.mu_hidden.out_features == 9
    assert st.net.encoder.mv_net is None


def test_the_base_config_is_the_dataclass_defaults_written_once():
    """configs/mi_fer/common.py writes its sections from the dataclasses (configs/common.py:section), so
    the full-size experiment is their defaults, every field is overridable, and no number is restated."""
    c = common.base_config("synthface", ("a", "b"))
    for name, cls in SETTINGS.items():
        assert build(cls, c[name], name) == cls(), name
    assert set(c.mi) == {f.name for f in dataclasses.fields(MiSettings)}
    assert set(c.model) == {f.name for f in dataclasses.fields(ModelSettings)}
    source = open(common.__file__).read()
    assert "refit_memory" not in source and "resnet18" not in source  # not restated
