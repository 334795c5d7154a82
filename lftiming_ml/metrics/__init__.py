"""Evaluation metrics, each defined once (DESIGN.md "Metrics"); ``tracking``: MOTA (Eq. 9)."""

from lftiming_ml.metrics.tracking import TrackingScores, mota

__all__ = ["TrackingScores", "mota"]
