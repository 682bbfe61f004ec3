"""Config of the toy method on random arrays (tests of the shared trainer)."""

import ml_collections


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.method = "toy_method:ToyMethod"
    c.seed = 0
    c.num_classes = 3
    c.class_names = ("a", "b", "c")
    c.total_steps = 12
    c.log_every = 1
    c.eval_every = 6
    c.ckpt_every = 4
    c.keep_ckpts = 2
    c.best_metric = "val/uar"
    c.progress_bar = False
    c.tensorboard = False
    c.input = ml_collections.ConfigDict(dict(
        dataset="random", split_train="train", split_val="val", batch_size=8, eval_batch_size=8,
        segments=2, size=4, random=dict(num_train=48, num_val=20, num_identities=4, identity_dim=4)))
    c.toy = ml_collections.ConfigDict(dict(hidden=16, nan_at_step=-1, sleep=0.0, dropout=0.0, lr=1e-2))
    return c
