"""Serving helpers shared by ``fer-jax predict`` and ``fer-jax export``: raw file -> model inputs
(``prepare``) per input group of a method's :class:`fer_jax.core.method.ServingSpec`."""
