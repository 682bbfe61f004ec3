"""configs/au: every variant passes the config check; stage 2 names its stage-1 source or says scratch."""

import pytest

from configs.au import (
    bp4d_finetune,
    bp4d_pretrain,
    disfa_finetune,
    disfa_pretrain,
    synthface_finetune,
    synthface_pretrain,
)
from fer_jax.core.registry import get_method
from fer_jax.train.config_check import validate


@pytest.mark.parametrize("module,arg", [
    (synthface_pretrain, None), (synthface_pretrain, "tiny"), (disfa_pretrain, "fold=2"),
    (bp4d_pretrain, "tiny,fold=0"), (synthface_finetune, "pretrain=runs/p"), (synthface_finetune, "tiny,scratch"),
    (disfa_finetune, "fold=1,pretrain=runs/p/fold_{fold}"), (bp4d_finetune, "tiny,fold=2,scratch,fraction=0.05"),
])
def test_configs_validate(module, arg):
    c = module.get_config(arg)
    validate(c, get_method(c.method))


def test_au_protocols_equal_the_builders_and_configs_import_no_tensorflow():
    import subprocess
    import sys

    from configs.au import common
    from data_pipelines.bp4d import Bp4d
    from data_pipelines.disfa import Disfa
    from data_pipelines.synthface import AUS

    assert common.DISFA_AUS == tuple(Disfa.AUS) == tuple(AUS) and common.BP4D_AUS == tuple(Bp4d.AUS)
    code = ("import sys, configs.au.disfa_finetune, configs.au.bp4d_finetune, configs.au.synthface_finetune; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_finetune_links_stage_one_by_init_from():
    c = disfa_finetune.get_config("fold=1,pretrain=runs/disfa_pre/fold_{fold}")
    assert c.init_from["pretrain"].to_dict() == dict(source="runs/disfa_pre/fold_1", checkpoint="latest",
                                                  load={"net/backbone": "net/backbone"})
    assert c.input.split_train == "train@fold1" and c.input.split_val == "test@fold1"
    assert len(c.target_names) == 12 and c.target_names[0] == "AU01" and c.labels.fraction == 0.02
    assert "init_from" not in synthface_finetune.get_config("scratch")
    assert bp4d_finetune.get_config("fold=0,scratch").target_names == ("AU06", "AU10", "AU12", "AU14", "AU17")
    pre = disfa_pretrain.get_config("fold=1")
    assert pre.method == "au_contrastive" and pre.input.split_train == "train@fold1" and pre.input.split_val == ""


@pytest.mark.parametrize("module,arg,match", [
    (synthface_finetune, None, "pretrain=<stage-1 workdir> or scratch"),
    (synthface_finetune, "scratch,pretrain=x", "exactly one"),
    (disfa_finetune, "scratch", "give fold=K"),
    (disfa_finetune, "fold=3,scratch", "outside"),
    (synthface_finetune, "pretrain=r/fold_{fold}", "no fold=K"),
    (synthface_pretrain, "fold=1", "fixed splits"),
])
def test_config_errors(module, arg, match):
    with pytest.raises(ValueError, match=match):
        module.get_config(arg)
