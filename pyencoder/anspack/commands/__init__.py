"""Subcommands of the ``anspack`` CLI: one module each, each with ``register(subparsers)``."""
