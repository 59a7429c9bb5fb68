"""The synthetic payment simulator behind `riskstream simulate`."""
