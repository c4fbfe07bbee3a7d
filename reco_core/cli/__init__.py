"""Subcommands of `python -m reco_core`; each module exposes `add_arguments(parser)` and `run(args) -> int`."""
