"""A stand-in for the trained well detector in tests: the simulator's true frame-0 boxes
(``lftiming_ml.evaluation.well_inputs``)."""

from lftiming_ml.evaluation.well_inputs import TruthBoxes as Boxes
from lftiming_ml.evaluation.well_inputs import truth_well_detector as truth_detector

__all__ = ["Boxes", "truth_detector"]
