"""riskstream: real-time transaction risk scoring on Kafka, Redis and an online River model."""

from __future__ import annotations

__version__ = "0.1.0"
