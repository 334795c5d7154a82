"""``raw_chip``: validate a chip folder against the contract and record what it holds."""

import base64

import dagster as dg
import pandas as pd

from lftiming_assets.partitions import chips
from lftiming_assets.runs import step_label
from lftiming_assets.resources import ChipTables, LftimingStorage
from lftiming_ml.chip import read_stack, validate_chip
from lftiming_ml.chip.manifest import ChannelRole
from lftiming_ml.chip.quality import unstable_frames
from lftiming_ml.viz import png_bytes, stretch
from lftiming_ml.chip.reader import GT_DIR

RAW_PREVIEW = "raw_preview.png"


@dg.asset(
    partitions_def=chips,
    group_name="raw",
    kinds={"tiff", "parquet"},
    check_specs=[dg.AssetCheckSpec("frames_stable", asset="raw_chip", partitions_def=chips,
                                   description="No phase frame's mean intensity is off by >50% from its stack's median (blank or shutter-failure frames).")],
)
def raw_chip(context: dg.AssetExecutionContext, storage: LftimingStorage, tables: ChipTables) -> dg.MaterializeResult:
    """Validate ``data/raw/<chip>/`` strictly and add the chip to the ``chips`` table."""
    chip_id = context.partition_key
    chip_dir = storage.chip_dir(chip_id)
    manifest, stacks = validate_chip(chip_dir)
    first = manifest.fields[0].field_id
    frame = read_stack(chip_dir, manifest, first, ChannelRole.phase)[0]
    preview = png_bytes(stretch(frame), max_side=512)
    preview_path = storage.reports_dir(chip_id) / RAW_PREVIEW

    row = pd.DataFrame([{
        "chip_id": chip_id, "n_fields": len(manifest.fields), "n_frames": manifest.n_frames,
        "frame_interval_min": manifest.frame_interval_min, "pixel_size_um": manifest.pixel_size_um,
        "field_height_px": manifest.field_shape[0], "field_width_px": manifest.field_shape[1],
        "channels": ",".join(f"{c.name}:{c.role.value}" for c in manifest.channels),
        "condition": manifest.condition, "has_ground_truth": (chip_dir / GT_DIR).is_dir(),
    }])
    with tables.commit(chip_id, what=step_label(context, "raw_chip")) as commit:  # row and preview together
        commit.stage_file(preview_path, lambda path: path.write_bytes(preview))
        tables.write(chip_id, {"chips": row})

    bad = unstable_frames([s for s in stacks if s.role == ChannelRole.phase])
    return dg.MaterializeResult(
        metadata={
            "fields": len(manifest.fields),
            "frames": manifest.n_frames,
            "channels": dg.MetadataValue.json({c.name: c.role.value for c in manifest.channels}),
            "frame_interval_min": manifest.frame_interval_min,
            "pixel_size_um": manifest.pixel_size_um,
            "field_shape": list(manifest.field_shape),
            "preview": dg.MetadataValue.md(
                f"![phase, {first}, frame 0](data:image/png;base64,{base64.b64encode(preview).decode()})"),
        },
        check_results=[dg.AssetCheckResult(
            check_name="frames_stable", passed=not bad,
            metadata={"unstable_frames": dg.MetadataValue.json(bad)},
        )],
    )
