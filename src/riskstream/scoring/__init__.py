"""Features and model output to fraud probability, risk score, decision and reasons (pure)."""
