"""Evaluation metrics, each defined once (DESIGN.md "Metrics"); ``tracking``: MOTA (Eq. 9)."""

from lftiming_ml.metrics.tracking import IdSwitch, TrackingScores, mota

__all__ = ["IdSwitch", "TrackingScores", "mota"]
