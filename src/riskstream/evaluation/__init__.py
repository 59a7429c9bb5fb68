"""``riskstream evaluate``: datasets, command, report (the pure core: model/evaluate.py)."""
