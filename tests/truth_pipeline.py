"""Stand-ins for trained models in tests: pipeline outputs written from the simulator's truth
(``lftiming_ml.evaluation.well_inputs``)."""

from lftiming_ml.evaluation.well_inputs import write_truth_instances as write_truth_cell_masks

__all__ = ["write_truth_cell_masks"]
