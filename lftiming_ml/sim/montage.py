"""A picture of a simulated chip a person can judge: one field in phase, six well crops at
three times, and the fluorescence channels beside them (``lftiming montage``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from lftiming_ml.chip import read_stack, validate_chip  # noqa: E402
from lftiming_ml.chip.manifest import ChannelRole  # noqa: E402
from lftiming_ml.io import atomic_file  # noqa: E402
from lftiming_ml.viz import stretch  # noqa: E402
from lftiming_ml.truth.files import read_cells, read_wells


def pick_wells(cells: pd.DataFrame, wells: pd.DataFrame, field_id: str, n: int = 6) -> list[tuple[int, int]]:
    """The ``n`` most eventful occupied wells of a field: deaths, contacts, crowding first."""
    c = cells[cells.field_id == field_id]
    if c.empty:
        w = wells[(wells.field_id == field_id) & (wells.frame == 0)]
        return [(int(r), int(k)) for r, k in w[["row", "col"]].head(n).itertuples(index=False)]
    score = c.groupby(["row", "col"]).agg(
        dead=("alive", lambda a: (~a).any()), contact=("in_contact", "mean"), cells=("cell_id", "nunique"))
    score["s"] = score.dead * 3 + score.contact * 2 + score.cells.clip(upper=4) * 0.5
    return [(int(r), int(k)) for r, k in score.sort_values("s", ascending=False).head(n).index]


def chip_montage(chip_dir: Path, out: Path, *, field_index: int = 0) -> Path:
    """Write the montage PNG of field ``field_index`` of a simulated chip; returns ``out``."""
    manifest, _ = validate_chip(chip_dir)
    field = manifest.fields[field_index].field_id
    cells = read_cells(chip_dir)
    wells = read_wells(chip_dir)
    phase = read_stack(chip_dir, manifest, field, ChannelRole.phase)
    fluo = {role: read_stack(chip_dir, manifest, field, role)
            for role in (ChannelRole.target_dye, ChannelRole.effector_dye, ChannelRole.death_marker)
            if manifest.channel(role) is not None}
    T = manifest.n_frames
    times = sorted({0, T // 2, T - 1})
    chosen = pick_wells(cells, wells, field)

    fig = plt.figure(figsize=(18, 10), dpi=110)
    grid = fig.add_gridspec(len(chosen), 1 + 2 * len(times), width_ratios=[len(chosen)] + [1] * (2 * len(times)),
                            wspace=0.04, hspace=0.06)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(stretch(phase[0]), cmap="gray")
    ax.set_title(f"{manifest.chip_id} / {field}, phase, frame 0 ({manifest.pixel_size_um} um/px)")
    ax.axis("off")
    for k, (r, c) in enumerate(chosen):
        box = wells[(wells.field_id == field) & (wells.row == r) & (wells.col == c) & (wells.frame == 0)].iloc[0]
        ax.add_patch(Rectangle((box.crop_x0, box.crop_y0), box.crop_size, box.crop_size, fill=False, ec="yellow", lw=1))
        ax.text(box.crop_x0, box.crop_y0 - 4, f"{k + 1}", color="yellow", fontsize=9)
    for k, (r, c) in enumerate(chosen):
        rows = wells[(wells.field_id == field) & (wells.row == r) & (wells.col == c)].set_index("frame")
        crops = []
        for t in times:
            y0, x0, s = int(rows.loc[t, "crop_y0"]), int(rows.loc[t, "crop_x0"]), int(rows.loc[t, "crop_size"])
            crops.append((t, (slice(max(y0, 0), y0 + s), slice(max(x0, 0), x0 + s))))
        ph = stretch(np.concatenate([phase[t][sl] for t, sl in crops], axis=1))
        w = ph.shape[1] // len(times)
        rgb_all = []
        for role in (ChannelRole.target_dye, ChannelRole.effector_dye, ChannelRole.death_marker):
            if role in fluo:
                rgb_all.append(stretch(np.concatenate([fluo[role][t][sl] for t, sl in crops], axis=1), 1, 99.9))
            else:
                rgb_all.append(np.zeros_like(ph))
        rgb = np.stack(rgb_all, axis=-1)
        rgb[..., 0] = np.maximum(rgb[..., 0], rgb[..., 2])  # Annexin V shown magenta
        for j, t in enumerate(times):
            for col, img, cmap in ((1 + j, ph[:, j * w:(j + 1) * w], "gray"), (1 + len(times) + j, rgb[:, j * w:(j + 1) * w], None)):
                a = fig.add_subplot(grid[k, col])
                a.imshow(img, cmap=cmap)
                a.set_xticks([]), a.set_yticks([])
                if k == 0:
                    kind = "phase" if cmap else "fluorescence"
                    a.set_title(f"{kind}\nt = {t * manifest.frame_interval_min:.0f} min", fontsize=8)
                if col == 1:
                    a.set_ylabel(f"{k + 1}: r{r}c{c}", fontsize=8)
    fig.text(0.99, 0.005, "fluorescence: red PKH26 (targets), green PKH67 (effectors), magenta Annexin V (dying)",
             ha="right", va="bottom", fontsize=9)
    with atomic_file(out) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return out
