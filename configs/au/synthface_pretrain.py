"""Stage 1 on SynthFace: InfoNCE on the training identities' clips (a build with ``--store-frames``),
the AU and expression labels unread. A window is a whole 32-frame clip."""

from configs.au import common


def get_config(arg=None):
    return common.pretrain_config("synthface", arg, window=32, folds=False)
