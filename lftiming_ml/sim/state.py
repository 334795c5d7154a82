"""Per-well cell histories: the contract between the biology model and the renderer.

``biology.simulate_well`` produces one ``WellHistory``; ``cells.render_cell`` turns one
cell at one frame (``CellPose`` taken from it) into an optical-path-difference patch and
an amodal mask; the chip writer assembles fields and ground truth from both.

Coordinates are (y, x) in um inside the well interior, origin at its top-left corner, so
0 <= y, x <= well_size_um. Array axes are [T, N]: T frames, N cells ever present (a cell
born by mitosis is absent before its birth frame, ``present`` False).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EFFECTOR = 0
TARGET = 1
CELL_TYPE_NAMES = {EFFECTOR: "effector", TARGET: "target"}


@dataclass(frozen=True)
class CellPose:
    """One cell at one frame: what the renderer needs.

    centre_um: (y, x) in the coordinates of the canvas being rendered (um).
    radius_um: radius of the footprint's equivalent disc (um); thickness ~ 2 * radius.
    elongation: major/minor axis ratio of the footprint (>= 1; polarized effectors > 1).
    angle_rad: orientation of the major axis (rad, from the +x axis towards +y).
    cell_type: EFFECTOR or TARGET.
    death_progress: 0 alive; rises to 1 over the apoptosis duration (shrink, bleb, condense).
    shape_seed: fixed per cell; seeds boundary irregularity and inner texture.
    """

    centre_um: tuple[float, float]
    radius_um: float
    elongation: float
    angle_rad: float
    cell_type: int
    death_progress: float
    shape_seed: int


@dataclass(frozen=True)
class WellHistory:
    """Truth of one well over a movie.

    cell_id (int[N]): ids unique within the well, 0..N-1 in order of appearance.
    cell_type (int[N]): EFFECTOR or TARGET.
    parent_id (int[N]): mother cell id for cells born by mitosis, else -1.
    shape_seed (int[N]): per-cell seed for the renderer.
    present (bool[T, N]): the cell exists in the well at frame t.
    y_um, x_um (float[T, N]): centre in well-interior coordinates (um).
    radius_um, elongation, angle_rad (float[T, N]): footprint shape (see ``CellPose``).
    alive (bool[T, N]): False from the death-onset frame on (death is monotone).
    death_progress (float[T, N]): 0 while alive, then rises to 1.
    depth (int[T, N]): stacking order, 0 = on the floor; higher values lie on top.
    conjugated_with (int[T, N]): partner cell id while in an effector-target conjugate, else -1.
    """

    cell_id: np.ndarray
    cell_type: np.ndarray
    parent_id: np.ndarray
    shape_seed: np.ndarray
    present: np.ndarray
    y_um: np.ndarray
    x_um: np.ndarray
    radius_um: np.ndarray
    elongation: np.ndarray
    angle_rad: np.ndarray
    alive: np.ndarray
    death_progress: np.ndarray
    depth: np.ndarray
    conjugated_with: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.present.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.present.shape[1])

    def pose(self, t: int, i: int, origin_um: tuple[float, float] = (0.0, 0.0)) -> CellPose:
        """Cell ``i`` at frame ``t``, with its centre shifted by ``origin_um`` (y, x)."""
        return CellPose(
            centre_um=(float(self.y_um[t, i] + origin_um[0]), float(self.x_um[t, i] + origin_um[1])),
            radius_um=float(self.radius_um[t, i]),
            elongation=float(self.elongation[t, i]),
            angle_rad=float(self.angle_rad[t, i]),
            cell_type=int(self.cell_type[i]),
            death_progress=float(self.death_progress[t, i]),
            shape_seed=int(self.shape_seed[i]),
        )
