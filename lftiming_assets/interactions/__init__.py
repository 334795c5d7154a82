"""Interactions: ``contacts``, ``well_outcomes`` and ``killing_kinetics`` (TIMING outcome tables)."""
