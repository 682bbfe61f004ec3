"""The four methods (and the models they train on): one folder per paper. The registry that picks one by
``config.method`` is ``fer_jax.core.registry``."""
