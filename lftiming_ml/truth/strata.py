"""Per-well strata of a simulated chip from its truth: the loaded E:T group and whether the
well is contact-rich (``metrics.strata`` defines both). Every stage's scores and training
reports are split by these."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lftiming_ml.metrics.strata import et_stratum, is_contact_rich
from lftiming_ml.truth.files import read_cells, read_wells


def well_strata(chip_dir: Path) -> pd.DataFrame:
    """Per well: stratum (loaded E:T), contact_rich (cells touch in >= 25% of its frames)."""
    wells = read_wells(chip_dir)
    cells = read_cells(chip_dir)
    keys = ["field_id", "row", "col"]
    first = wells.sort_values("frame").groupby(keys, as_index=False).first()
    n_frames = wells.groupby(keys)["frame"].nunique().rename("n_frames")
    touching = cells[cells["in_contact"]].groupby(keys)["frame"].nunique().rename("contact_frames")
    out = first[keys + ["loaded_effectors", "loaded_targets"]].join(n_frames, on=keys).join(touching, on=keys)
    out["contact_frames"] = out["contact_frames"].fillna(0).astype(int)
    out["stratum"] = [et_stratum(e, t) for e, t in zip(out["loaded_effectors"], out["loaded_targets"])]
    out["contact_rich"] = [is_contact_rich(c, n) for c, n in zip(out["contact_frames"], out["n_frames"])]
    return out.set_index(keys)


__all__ = ["well_strata"]
