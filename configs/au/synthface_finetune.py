"""Stage 2 on SynthFace: its 12 DISFA-order AUs from 2% of the training frames' labels; ``val`` is
identity-disjoint from ``train``, and ``test`` (unseen identities) is evaluated at the end.

``synthface_finetune.py:pretrain=runs/au_pre`` (stage 1's workdir) or ``:scratch`` (the baseline);
``fraction=1`` is the fully supervised reference.
"""

from configs.au import common


def get_config(arg=None):
    c = common.finetune_config("synthface", common.DISFA_AUS, arg, window=32, folds=False)
    if c.input.dataset != "random":
        # test (unseen identities) once, at the last step
        c.evals = {"val": dict(split=c.input.split_val), "test": dict(split="test", every=10**9)}
    return c
