"""What a filmstrip draws of one well (``WellView``) and the pipeline's view of a well.

``ChipOutputs`` reads a chip's ``cell_types``, ``cell_deaths`` and ``contacts`` tables once
(the columns a picture needs); ``predicted_well_view`` adds one well's phase channel
(``store.open_well_phase``) and track masks (``store.open_well_track_masks``, slot k = track
id k). A well that was cropped but not tracked gets no masks (K = 0); an empty well (no
pixels) gets all-dark frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lftiming_ml.annotations.schema import parse_well_name
from lftiming_ml.store.layout import ChipStore
from lftiming_ml.store.movies import open_well_phase
from lftiming_ml.store.tracks import open_well_track_masks

WELL = ["field_id", "row", "col"]


@dataclass(frozen=True)
class WellView:
    """One well as a filmstrip draws it.

    phase: ``uint16|float[T, S, S]`` (crop px, (y, x)); masks: ``bool[T, K, S, S]``, slot k =
    track (or true cell) k, may overlap; cell_types: slot -> 'effector' | 'target' (a slot
    without a type gets '?'); death_frames: slot -> first dead frame (slots that never die
    are absent); contacts: frame -> ``[(effector slot, target slot), ...]`` in contact;
    label: 'prediction' or 'truth'; frame_interval_min: minutes between frames.
    """

    well: str
    label: str
    phase: np.ndarray
    masks: np.ndarray
    cell_types: Mapping[int, str] = field(default_factory=dict)
    death_frames: Mapping[int, int] = field(default_factory=dict)
    contacts: Mapping[int, list[tuple[int, int]]] = field(default_factory=dict)
    frame_interval_min: float = 5.0

    def __post_init__(self) -> None:
        t, s = self.phase.shape[0], self.phase.shape[-1]
        if self.masks.ndim != 4 or self.masks.shape[0] != t or self.masks.shape[2:] != self.phase.shape[1:]:
            raise ValueError(f"{self.well} ({self.label}): masks {self.masks.shape} do not fit phase "
                             f"{self.phase.shape} (want bool[T={t}, K, {s}, {s}])")

    @property
    def n_frames(self) -> int:
        return int(self.phase.shape[0])

    @property
    def contact_frames(self) -> np.ndarray:
        """``bool[T]``: frames with at least one effector-target pair in contact."""
        out = np.zeros(self.n_frames, bool)
        for frame, pairs in self.contacts.items():
            if pairs and 0 <= frame < self.n_frames:
                out[frame] = True
        return out


class ChipOutputs:
    """A chip's per-track types, death frames and per-frame contacts, read once and split by
    well (``for_well``). Tables the chip does not have yet give empty views."""

    def __init__(self, chip: ChipStore) -> None:
        self.chip = chip
        types = _read(chip, "cell_types", [*WELL, "track_id", "cell_type"])
        deaths = _read(chip, "cell_deaths", [*WELL, "track_id", "death_frame"])
        contacts = _read(chip, "contacts", [*WELL, "frame", "effector_id", "target_id", "in_contact"])
        if deaths is not None:
            deaths = deaths.dropna(subset=["death_frame"]).drop_duplicates([*WELL, "track_id"])
        if contacts is not None:
            contacts = contacts[contacts["in_contact"]]
        self._types = _by_well(types)
        self._deaths = _by_well(deaths)
        self._contacts = _by_well(contacts)

    def for_well(self, well: str) -> tuple[dict[int, str], dict[int, int], dict[int, list[tuple[int, int]]]]:
        """``(cell_types, death_frames, contacts)`` of ``well`` (``f000/r0c1``) as ``WellView`` wants them."""
        key = parse_well_name(well)
        types, deaths, contacts = (g.get(key) for g in (self._types, self._deaths, self._contacts))
        cell_types = {} if types is None else dict(zip(types["track_id"].astype(int), types["cell_type"].astype(str)))
        death_frames = {} if deaths is None else dict(zip(deaths["track_id"].astype(int),
                                                          deaths["death_frame"].astype(int)))
        pairs: dict[int, list[tuple[int, int]]] = {}
        if contacts is not None:
            for frame, e, t in contacts[["frame", "effector_id", "target_id"]].itertuples(index=False):
                pairs.setdefault(int(frame), []).append((int(e), int(t)))
        return cell_types, death_frames, pairs


def _read(chip: ChipStore, table: str, columns: list[str]) -> pd.DataFrame | None:
    from lftiming_ml.store.tables import read_chip_table

    return read_chip_table(chip.tables_dir, table, chip.chip_id, columns) if chip.table_path(table).is_file() else None


def _by_well(df: pd.DataFrame | None) -> dict[tuple[str, int, int], pd.DataFrame]:
    if df is None or not len(df):
        return {}
    return {(str(f), int(r), int(c)): g for (f, r, c), g in df.groupby(WELL, sort=False)}


def predicted_well_view(chip: ChipStore, well: str, outputs: ChipOutputs) -> WellView:
    """The pipeline's view of ``well`` (``f000/r0c1``): phase, track masks and ``outputs``' rows.

    FileNotFoundError names the well when the chip's store does not hold it."""
    field_id, row, col = parse_well_name(well)
    phase, info = open_well_phase(chip.zarr_path, field_id, row, col)
    if phase is None:  # an empty well: recorded without pixels
        size = max(int(np.ceil(info.well_box_px[2] + info.well_box_px[0])), 1)  # interior + equal margins
        phase = np.zeros((info.n_frames, size, size), np.uint16)
    try:
        masks = open_well_track_masks(chip.zarr_path, field_id, row, col)
    except FileNotFoundError:
        masks = np.zeros((phase.shape[0], 0, *phase.shape[1:]), bool)
    cell_types, death_frames, contacts = outputs.for_well(well)
    return WellView(well, "prediction", phase, masks, cell_types, death_frames, contacts, info.frame_interval_min)


__all__ = ["ChipOutputs", "WellView", "predicted_well_view"]
