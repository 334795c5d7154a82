"""Cell re-identification: an appearance embedding for the tracker's Eq. 7 link cost.

Why: two effectors of one well are alike in size and run further per 5-min frame than they
are apart, so position, velocity and area cannot keep their identities (the paper names
re-identification cues as the fix, section 3). Each cell of the simulator has its own inner
texture (nucleus, granules) and outline; a small CNN learns to map a phase patch of a cell
to a unit vector that stays close for the same cell across frames and apart for the other
cells of its well (supervised contrastive loss, labels = true cell ids of simulated chips).
The tracker (``tracking.linking.state_costs``) adds ``w_appearance * (1 - e_track . e_det)``,
e_track the normalised mean embedding of the track's last detections.

``config`` (``ReidProfile``, the ``cpu`` and ``paper`` profiles, the registry config),
``model`` (``ReidNet``, input stacking, rebuilding from the registry), ``losses`` (the
supervised contrastive loss, a pure function), ``engine`` (``train_reid``,
``verification_accuracy``), ``serving`` (``load_reid``; the pipeline's detections are
embedded by ``tracking.appearance``), ``training`` (``train_and_register``), ``offline`` (``train_bundle`` and
``python -m lftiming_ml.reid.offline``: training without MLflow or Dagster, for a GPU machine).

What it buys, measured (README "Benchmarks"): the cpu profile (300 s on 2 cores) verifies
an effector against the other effector of its well 0.89 of the time and took MOTA on
LOCSNET v2 detections of held-out chips from 0.926 to 0.942; the ``paper`` profile trained
on a GPU (270 s on an H200) verifies 0.96 and is the champion the README's tracking numbers use.
"""
