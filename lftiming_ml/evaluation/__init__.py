"""Per-stage evaluation of a chip's outputs against its ground truth (``lftiming evaluate``).

- ``wells`` is scored in ``chip``; ``segmentation``, ``tracking``, ``classification`` and
  ``interactions``: one module per stage, each calling the one metric of
  ``lftiming_ml.metrics`` for it; ``chip``: ``evaluate_chip``, every section of one chip.
- ``tracker_inputs`` and ``interaction_inputs``: a stage's inputs built from truth (true
  detections, true tracks, types, deaths and contacts), so benchmarks and tests can run a
  stage on perfect inputs and score its own error.

Outputs are read through ``lftiming_ml.store``, truth through ``lftiming_ml.truth``. The top
of the library: nothing else in ``lftiming_ml`` imports it.
"""
