"""``new_chip_folders``: register chips appearing under ``data/raw/`` and request their runs."""

import dagster as dg

from lftiming_assets.jobs import chip_pipeline
from lftiming_assets.partitions import chips
from lftiming_assets.resources import LftimingStorage
from lftiming_ml.chip.manifest import MANIFEST_NAME, SAFE_ID


def chip_folders(storage: LftimingStorage) -> list[str]:
    """Chip ids of folders under ``raw/`` that hold a ``chip.json`` (written last by
    convention, so a folder still being copied is not picked up)."""
    if not storage.raw_dir.is_dir():
        return []
    return sorted(p.name for p in storage.raw_dir.iterdir()
                  if p.is_dir() and SAFE_ID.match(p.name) and (p / MANIFEST_NAME).is_file())


@dg.sensor(job=chip_pipeline, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def new_chip_folders(context: dg.SensorEvaluationContext, storage: LftimingStorage) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(chips.name))
    new = [c for c in chip_folders(storage) if c not in known]
    if new:
        context.log.info(f"registering chips {new}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=c, run_key=f"register-{c}") for c in new],
        dynamic_partitions_requests=[chips.build_add_request(new)] if new else [],
    )
