"""Effector-target interactions: contacts from masks, TIMING kinetics, survival, plots.

- ``config``: ``ContactParams`` and ``KineticsParams``.
- ``contacts``: per-frame contacts from per-track masks (overlap or boundary gap within a
  tolerance in um) and contact events (onset, end, duration, partner).
- ``kinetics``: tSeek, tContact, tDeath, killing and its attribution, serial kills,
  effector speed and death, per interaction / effector / target / well; killing frequency
  by E:T group with Wilson CIs.
- ``survival``: Kaplan-Meier target survival by E:T group.
- ``plots``: killing curves and kinetics distributions (PNG).
- ``pipeline_inputs``: the inputs from the pipeline's ``cell_tracks``, ``cell_types``,
  ``cell_deaths`` tables and the track masks of the chip store.
- ``outcomes``: the outcome tables the assets write (stamped with chip id and model
  versions); ``checks``: the rules their asset checks apply.
- ``timing``: pixel size, frame interval and frame count from ``chip.json``.

The same inputs built from a simulated chip's ``gt/`` are ``lftiming_ml.evaluation.interaction_inputs``
and the scoring of the outcome tables is ``lftiming_ml.evaluation.interactions``; nothing
here imports either.

Inputs are the ``tracks`` table (``contacts.TRACK_COLUMNS``) and per-well masks
(``contacts.WellMasks``, ``bool[T, K, S, S]``), plus the chip's ``pixel_size_um`` and
``frame_interval_min``. Every output table carries chip_id, field_id, row, col.
"""

from lftiming_ml.interactions.config import ContactParams, KineticsParams
from lftiming_ml.interactions.contacts import WellMasks, contact_events, contact_frames
from lftiming_ml.interactions.kinetics import KineticsTables, chip_kinetics, killing_frequency
from lftiming_ml.interactions.survival import survival_by_group

__all__ = ["ContactParams", "KineticsParams", "KineticsTables", "WellMasks", "chip_kinetics", "contact_events",
           "contact_frames", "killing_frequency", "survival_by_group"]
