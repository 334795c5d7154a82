"""Tracking domain: ``cell_tracks``."""
