"""The review queue: which wells of a chip a person should proofread first, and why.

- ``signals``: one pure function per suspicion signal, from the chip's tables to a value per
  well in a documented unit (``SIGNALS``: units, normalisation, reason texts).
- ``fluorescence``: on chips with dye channels, the phase calls checked against them (type
  vs the dyes, death vs Annexin V), reading only those channels.
- ``queue``: the signals combined into one score (a logistic model with weights fitted on
  tuning chips), ranked, with reasons; the ``review_queue`` table's columns.
- ``plots``: the score distribution for the Dagster UI.

Inference side: it never reads ground truth (``benchmarks/review_queue.py`` scores it).
"""
