"""Stage 2 on BP4D (FERA 2015 intensity): AUs 6, 10, 12, 14, 17 from 2% of the labels, 3-fold by subject
(``fold=K``; frames coded 9 are -1, masked). ``pretrain=DIR`` (``{fold}`` allowed) or ``scratch``."""

from configs.au import common


def get_config(arg=None):
    return common.finetune_config("bp4d", common.BP4D_AUS, arg, window=48, folds=True)
