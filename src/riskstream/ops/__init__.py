"""Metrics, consumer lag and the dashboard page."""
