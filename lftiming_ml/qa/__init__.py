"""Pictures and pages for people checking a chip: well filmstrips and the per-chip report.

- ``views``: ``WellView``, what a filmstrip draws of one well (phase, track masks, E/T per
  track, death frames, contact pairs per frame), and the pipeline's view of a well read from
  the chip store and tables (``ChipOutputs``, ``predicted_well_view``).
- ``filmstrip``: N frames of a well side by side (PNG) and the whole movie (animated GIF),
  outlines coloured by track id, E/T letters, death markers, contact frames highlighted;
  prediction above truth when a truth view is given.
- ``report_data``: the numbers of a chip's report (summary, counts reconciled, kinetics by
  E:T, the models that made the outputs).
- ``report``: the self-contained HTML report (``data/reports/<chip>/report.html``).

Inference side: nothing here reads ground truth. Truth views (``WellView`` of a simulated or
annotated chip's ``gt/``) are built by ``lftiming_ml.evaluation.well_views`` and handed in by
the caller.
"""
