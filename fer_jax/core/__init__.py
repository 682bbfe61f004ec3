"""The bottom layer of fer_jax: the contract every other part shares, importing none of them.

The method protocol and its feature and serving specs (``method``), the registry that picks a method by
name without importing it (``registry``), frozen variables (``frozen``), config sections -> typed settings
(``settings``), the ``data`` mesh (``parallel``), the one data path (``data``), and a workdir's files:
checkpoints, ``init_from`` weights, ``config.json`` and restoring a trained run (``checkpointing``,
``init_from``, ``workdir``). Models, serving, evaluation, the trainer, methods and commands import it;
it imports only ``data_pipelines`` (which knows no model).
"""
