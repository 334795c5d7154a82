"""Ground truth: the code that reads a chip's ``gt/`` folder and matches outputs to truth.

- ``files``: the ``gt/`` layout and its readers (cells, wells, contacts, masks, truth.json).
- ``strata``: per-well E:T stratum and contact-richness from truth.
- ``match``: pairs pipeline wells with true wells, moves true masks and centroids into the
  pipeline's crops, matches tracks to true cells (per track and frame by frame).

It imports only the raw-chip contract, the store and the metrics, so the training recipes
(labels of simulated corpora) and ``lftiming_ml.evaluation`` can build on it without a
cycle; the inference path never imports it (``tests/test_architecture.py``).
"""
