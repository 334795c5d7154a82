"""lftiming_ml: the label-free TIMING library (no Dagster in here).

Sub-packages: ``chip`` (raw-chip contract and reader), ``sim`` (the physically grounded
nanowell-chip simulator), and the analysis stages added by later issues.
"""

__version__ = "0.1.0"
