"""Logs without secrets, and the Prometheus metrics."""
