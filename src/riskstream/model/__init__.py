"""The online River model: pipeline factory, checkpoints, evaluation (pure, no I/O)."""
