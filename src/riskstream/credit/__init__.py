"""Credit score and limit rules (pure)."""
