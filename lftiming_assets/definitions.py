"""The one ``Definitions`` of the lftiming code location."""

import dagster as dg

from lftiming_assets.jobs import (ANNOTATION_ASSETS, CHIP_ASSETS, CHIP_EXECUTOR, MODEL_ASSETS, chip_pipeline,
                                  segment_chips, summarize_annotations, train_models)
from lftiming_assets.progress import RUN_LOGGERS
from lftiming_assets.raw.sensors import new_chip_folders
from lftiming_assets.resources import build_resources

defs = dg.Definitions(
    assets=[*CHIP_ASSETS, *ANNOTATION_ASSETS, *MODEL_ASSETS],
    jobs=[chip_pipeline, segment_chips, train_models, summarize_annotations],
    sensors=[new_chip_folders],
    resources=build_resources(),
    loggers=RUN_LOGGERS,
    # What the UI's "Materialize" of chosen assets runs with (its ad-hoc asset job): as the chip jobs.
    # train_models keeps Dagster's multiprocess executor (jobs.py): its steps train for minutes.
    executor=CHIP_EXECUTOR,
)
