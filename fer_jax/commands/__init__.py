"""One module per ``fer-jax`` subcommand (``fer_jax/cli.py`` dispatches to them lazily); each exposes
``main(argv) -> int``. Commands are the top layer: they may import every other part of fer_jax."""
