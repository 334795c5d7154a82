"""Agent-based biology of one nanowell over a movie: who is loaded, how they move, touch,
conjugate, kill, divide and die.

``simulate_well`` integrates ``BiologyParams.substeps_per_frame`` steps per frame and
samples the state at every frame time (frame 0 = loading) into a ``WellHistory``.

- Loading: Poisson effectors and targets, truncated at ``max_cells_per_well``; placed
  uniformly without overlap where possible. Ids: effectors first, then targets, then
  daughters in order of birth.
- Effectors: run/pause bursts (two-state Markov process), persistent random walk,
  polarized (elongated along the heading) while running, heading biased toward the nearest
  live, unconjugated target within ``seek_range_um`` (``motility``). Targets wander slowly.
- Contact (centre distance <= r1 + r2 + 0.5 um) of a free effector with a free live target
  forms a conjugate with ``conjugation_prob``; otherwise the effector wanders off without
  seeking for ``seek_refractory_min``. A conjugated effector rides on the target's surface
  (slight sliding) for a lognormal duration, then leaves and becomes refractory.
- Killing is decided once per effector-target pair, at its first conjugation, with
  ``kill_prob``; death onset = the pair's first contact + lognormal ``death_delay_min``,
  never before the first frame that shows the conjugate. Dead cells stop (tiny jitter).
- Rare mitosis of loaded targets (not while conjugated or doomed) and rare effector death
  (postponed while conjugated) at uniform times in the movie.

Conventions of the history (see ``state.WellHistory``): float fields are NaN and ``alive``
is False where ``present`` is False; ``radius_um`` is the live radius (a daughter's grows
back towards its mother's), not shrunk by apoptosis: the renderer shrinks and rounds a cell
from ``death_progress`` (``cells.render_cell``); the collision radius here shrinks by the
same ``APOPTOTIC_SHRINK``.
"""

from __future__ import annotations

import math

import numpy as np

from lftiming_ml.sim.config import BiologyParams
from lftiming_ml.sim.motility import (
    depth_order, nearest_goal, pair_offsets, separate, steer, turn_at_walls, wrap_angle,
)
from lftiming_ml.sim.state import EFFECTOR, TARGET, WellHistory

CONTACT_GAP_UM = 0.5  # footprints closer than r1 + r2 + this are in contact
APOPTOTIC_SHRINK = 0.25  # radius lost by a fully apoptotic cell (as cells.render_cell draws it)
FOOTPRINT_BOUND = 1.12  # rendered boundary irregularity: footprint <= radius * sqrt(e) * this
PAUSED_ELONGATION = (1.0, 1.1)  # effectors at rest or in a conjugate
TARGET_ELONGATION = (1.0, 1.08)
POLARIZE_MIN = 0.7  # time constant of elongation changes (min)
TARGET_PERSISTENCE_MIN = 10.0
TARGET_SPEED_SPREAD = 0.35  # lognormal sigma of per-target speed (mean = target_speed_um_min)
BOUT_SPEED_SPREAD = 0.15  # lognormal sigma of a run bout's speed around the cell's speed
CRAWL_ON_UM = 0.3  # a seeking effector stops this far past first touch
WOBBLE_UM = {"effector": 0.4, "target": 0.15, "dead": 0.02}  # centroid jitter, um / sqrt(min)
SLIDE_RAD = 0.05  # conjugate sliding around the target, rad / sqrt(min)
TARGET_SPIN_RAD = 0.05  # slow rotation of a target's footprint, rad / sqrt(min)
MOBILITY = {"effector": 1.0, "target": 0.35, "dead": 0.0}  # share of pushes taken (dead: none)
DAUGHTER_REGROWTH_MIN = 240.0  # daughter radius grows back to the mother's over this time


def count_loading(rng: np.random.Generator, params: BiologyParams) -> tuple[int, int]:
    """Poisson loading, truncated at ``max_cells_per_well`` by dropping random cells.

    Returns ``(n_effectors, n_targets)``. ``simulate_well`` calls this first on its rng.
    """
    n_e = int(rng.poisson(params.effectors_per_well))
    n_t = int(rng.poisson(params.targets_per_well))
    excess = n_e + n_t - params.max_cells_per_well
    if excess > 0:
        dropped = rng.choice(n_e + n_t, size=excess, replace=False)
        n_e, n_t = n_e - int((dropped < n_e).sum()), n_t - int((dropped >= n_e).sum())
    return n_e, n_t


def footprint_reach_um(radius_um: np.ndarray, elongation: np.ndarray) -> np.ndarray:
    """Bound on how far a rendered footprint reaches from its centre (um), >= radius * e."""
    return radius_um * np.maximum(elongation, FOOTPRINT_BOUND * np.sqrt(elongation))


def simulate_well(
    rng: np.random.Generator,
    *,
    n_frames: int,
    frame_interval_min: float,
    well_size_um: float,
    params: BiologyParams,
) -> WellHistory:
    """Simulate the cells of one nanowell; deterministic given the state of ``rng``.

    Returns a ``WellHistory`` with arrays [T = n_frames, N = cells ever present]; positions
    are (y, x) um inside the well interior [0, well_size_um].
    """
    if n_frames < 1 or frame_interval_min <= 0 or well_size_um <= 0:
        raise ValueError(f"need n_frames >= 1, frame_interval_min > 0 and well_size_um > 0; got "
                         f"{n_frames}, {frame_interval_min}, {well_size_um}")
    n_e, n_t = count_loading(rng, params)
    well = _Well(rng, n_e, n_t, n_frames=n_frames, frame_interval_min=frame_interval_min,
                 well_size_um=well_size_um, params=params)
    return well.run()


class _Well:
    """Mutable state of one well's cells (arrays over cell index, capacity for daughters)."""

    def __init__(self, rng: np.random.Generator, n_e: int, n_t: int, *, n_frames: int,
                 frame_interval_min: float, well_size_um: float, params: BiologyParams) -> None:
        self.rng, self.p, self.L = rng, params, float(well_size_um)
        self.T, self.fi, self.S = int(n_frames), float(frame_interval_min), params.substeps_per_frame
        self.dt = dt = self.fi / self.S
        run_frac = params.effector_run_fraction
        pause_min = params.effector_run_bout_min * (1.0 - run_frac) / run_frac if run_frac > 0 else np.inf
        self.p_stop = -math.expm1(-dt / params.effector_run_bout_min)
        self.p_start = -math.expm1(-dt / pause_min) if pause_min > 0 else 1.0
        self.polarize_gain = -math.expm1(-dt / POLARIZE_MIN)
        self.wobble_sd = [WOBBLE_UM[k] * math.sqrt(dt) for k in ("effector", "target", "dead")]
        self.target_spin_sd = TARGET_SPIN_RAD * math.sqrt(dt)
        self.t_end = (self.T - 1) * self.fi
        cap = n_e + 3 * n_t  # each loaded target may divide once into two daughters
        self.n = 0
        f, i, b = np.float64, np.int64, bool
        fields = {"y": f, "x": f, "r_full": f, "r_start": f, "birth": f, "onset": f, "heading": f,
                  "speed": f, "bout_speed": f, "e_run": f, "e_rest": f, "e": f, "ang": f,
                  "conj_end": f, "conj_phi": f, "conj_dist": f, "refractory_until": f,
                  "division_t": f, "death_t": f, "tiebreak": f, "turn_sd": f,
                  "cell_type": i, "parent": i, "shape_seed": i, "partner": i,
                  "present": b, "running": b}
        for name, dtype in fields.items():
            setattr(self, name, np.zeros(cap, dtype))
        self.first_contact = np.full((cap, cap), np.inf)
        self.kill_decided = np.zeros((cap, cap), bool)
        self._load(n_e, n_t)
        self.next_event = self._next_event()
        n_steps = max(self.T - 1, 0) * self.S
        self.normals = rng.standard_normal((n_steps, 5, cap))
        self.uniforms = rng.random((n_steps, cap))

    # ----------------------------------------------------------------- loading and births
    def _load(self, n_e: int, n_t: int) -> None:
        p, rng = self.p, self.rng
        kinds = np.array([EFFECTOR] * n_e + [TARGET] * n_t, dtype=np.int64)
        diam = np.where(kinds == EFFECTOR, rng.uniform(*p.effector_diameter_um, kinds.size),
                        rng.uniform(*p.target_diameter_um, kinds.size))
        radius = diam / 2.0
        pos = np.zeros((kinds.size, 2))
        placed: list[int] = []
        for k in np.argsort(-radius, kind="stable"):  # big cells first
            reach = min(float(footprint_reach_um(radius[k], np.float64(1.6 if kinds[k] == EFFECTOR else 1.1)))
                        + 0.25, self.L / 2)
            cand = rng.uniform(reach, self.L - reach, (64, 2))
            if placed:
                d = np.hypot(*(cand[:, None, :] - pos[placed][None, :, :]).transpose(2, 0, 1))
                gap = (d - radius[k] - radius[placed][None, :]).min(axis=1)
                ok = np.flatnonzero(gap >= 0.0)
                pos[k] = cand[ok[0]] if ok.size else cand[np.argmax(gap)]
            else:
                pos[k] = cand[0]
            placed.append(int(k))
        for k in range(kinds.size):
            self._add_cell(int(kinds[k]), radius[k], radius[k], pos[k, 0], pos[k, 1], parent=-1, birth=0.0)
        is_t = self.cell_type[: self.n] == TARGET
        for name, prob in (("division_t", p.mitosis_prob), ("death_t", p.effector_death_prob)):
            happens = rng.random(self.n) < prob
            when = rng.uniform(0.0, self.t_end, self.n)
            eligible = is_t if name == "division_t" else ~is_t
            getattr(self, name)[: self.n] = np.where(happens & eligible, when, np.inf)

    def _add_cell(self, kind: int, r_start: float, r_full: float, y: float, x: float, *,
                  parent: int, birth: float) -> int:
        p, rng, k = self.p, self.rng, self.n
        self.n += 1
        self.cell_type[k], self.parent[k], self.present[k] = kind, parent, True
        self.shape_seed[k] = rng.integers(0, 2**31 - 1)
        self.tiebreak[k] = rng.random()
        self.r_start[k], self.r_full[k], self.birth[k] = r_start, r_full, birth
        self.y[k], self.x[k] = y, x
        self.heading[k] = rng.uniform(-np.pi, np.pi)
        self.e_rest[k] = rng.uniform(*(PAUSED_ELONGATION if kind == EFFECTOR else TARGET_ELONGATION))
        self.e_run[k] = rng.uniform(*p.effector_run_elongation)
        persistence = p.effector_persistence_min if kind == EFFECTOR else TARGET_PERSISTENCE_MIN
        self.turn_sd[k] = math.sqrt(2.0 * self.dt / persistence)
        if kind == EFFECTOR:
            self.speed[k] = rng.uniform(*p.effector_speed_um_min)
            self.running[k] = rng.random() < p.effector_run_fraction
        else:
            s = TARGET_SPEED_SPREAD
            self.speed[k] = p.target_speed_um_min * math.exp(s * rng.standard_normal() - s * s / 2)
            self.running[k] = False
        self.bout_speed[k] = self.speed[k] * math.exp(BOUT_SPEED_SPREAD * rng.standard_normal())
        self.e[k] = self.e_run[k] if self.running[k] else self.e_rest[k]
        self.ang[k] = self.heading[k] if kind == EFFECTOR else rng.uniform(-np.pi, np.pi)
        self.onset[k] = self.conj_end[k] = self.division_t[k] = self.death_t[k] = np.inf
        self.refractory_until[k] = -np.inf
        self.partner[k] = -1
        return k

    def _divide(self, j: int, t: float) -> None:
        r_mother = float(self._live_radius(t)[j])
        r_d = r_mother / 2.0 ** (1.0 / 3.0)
        axis = self.rng.uniform(0.0, np.pi)
        self.present[j] = False
        for sign in (1.0, -1.0):
            self._add_cell(TARGET, r_d, self.r_full[j], self.y[j] + sign * r_d * math.sin(axis),
                           self.x[j] + sign * r_d * math.cos(axis), parent=j, birth=t)

    # ------------------------------------------------------------------------ state views
    def _live_radius(self, t: float) -> np.ndarray:
        n = self.n
        if self.parent[:n].max(initial=-1) < 0:  # no daughters: radii are constant
            return self.r_full[:n]
        grown = np.clip((np.minimum(t, self.onset[:n]) - self.birth[:n]) / DAUGHTER_REGROWTH_MIN, 0.0, 1.0)
        return self.r_start[:n] + (self.r_full[:n] - self.r_start[:n]) * grown

    def _progress(self, t: float) -> np.ndarray:
        if not np.isfinite(self.onset[: self.n]).any():
            return np.zeros(self.n)
        return np.clip((t - self.onset[: self.n]) / self.p.apoptosis_min, 0.0, 1.0)

    # -------------------------------------------------------------------------- main loop
    def run(self) -> WellHistory:
        cap = self.y.size
        h = {name: np.full((self.T, cap), np.nan) for name in ("y_um", "x_um", "radius_um", "elongation", "angle_rad")}
        h["death_progress"] = np.zeros((self.T, cap))
        h["present"] = np.zeros((self.T, cap), bool)
        h["alive"] = np.zeros((self.T, cap), bool)
        h["depth"] = np.zeros((self.T, cap), np.int64)
        h["conjugated_with"] = np.full((self.T, cap), -1, np.int64)
        self._record(h, 0)
        for f in range(1, self.T):
            for k in range(1, self.S + 1):
                step = (f - 1) * self.S + k  # the state after this step is at time step * dt
                self._step(step - 1, step / self.S * self.fi)
            self._record(h, f)
        n = self.n
        return WellHistory(
            cell_id=np.arange(n, dtype=np.int64), cell_type=self.cell_type[:n].copy(),
            parent_id=self.parent[:n].copy(), shape_seed=self.shape_seed[:n].copy(),
            **{name: arr[:, :n].copy() for name, arr in h.items()},
        )

    def _record(self, h: dict[str, np.ndarray], f: int) -> None:
        n, t = self.n, f * self.fi
        pres = self.present[:n]
        radius = self._live_radius(t)
        alive = pres & (t < self.onset[:n])
        h["present"][f, :n] = pres
        for name, value in (("y_um", self.y), ("x_um", self.x), ("radius_um", radius),
                            ("elongation", self.e), ("angle_rad", wrap_angle(self.ang))):
            h[name][f, :n] = np.where(pres, value[:n], np.nan)
        h["alive"][f, :n] = alive
        h["death_progress"][f, :n] = np.where(pres & ~alive, self._progress(t), 0.0)
        h["conjugated_with"][f, :n] = np.where(pres, self.partner[:n], -1)
        h["depth"][f, :n] = depth_order(self.y[:n], self.x[:n], footprint_reach_um(radius, self.e[:n]) + 0.5,
                                        pres, alive, self.cell_type[:n] == EFFECTOR, self.tiebreak[:n])

    def _step(self, s: int, t: float) -> None:
        """Advance the state to time ``t`` (min), using the noise of substep ``s``."""
        if t >= self.next_event:
            self._events(t)
        if self.n == 0:
            return
        live = self._live_radius(t)
        collision = live * (1.0 - APOPTOTIC_SHRINK * self._progress(t))
        self._move(s, t, live, collision)
        self._contacts(s, t, collision)

    def _next_event(self) -> float:
        n = self.n
        death = self.death_t[:n][np.isinf(self.onset[:n])]
        return float(min(death.min(initial=np.inf), self.conj_end[:n].min(initial=np.inf),
                         self.division_t[:n].min(initial=np.inf)))

    # ----------------------------------------------------------------------------- events
    def _events(self, t: float) -> None:
        """Effector deaths, conjugate releases and target divisions due by time ``t``."""
        n = self.n
        pres, partner = self.present[:n], self.partner[:n]
        is_e = self.cell_type[:n] == EFFECTOR
        dies = pres & is_e & (self.death_t[:n] <= t) & np.isinf(self.onset[:n]) & (partner < 0)
        self.onset[:n][dies] = t
        for i in np.flatnonzero(pres & is_e & (partner >= 0) & (self.conj_end[:n] <= t)):
            self._release(int(i), t)
        for j in np.flatnonzero(pres & ~is_e & (self.division_t[:n] <= t)):
            if np.isfinite(self.onset[j]):
                self.division_t[j] = np.inf  # a doomed or dead target does not divide
            elif self.partner[j] < 0:  # a conjugated one waits for the release
                self.division_t[j] = np.inf
                self._divide(int(j), t)
        self.next_event = self._next_event()

    def _release(self, i: int, t: float) -> None:
        j = self.partner[i]
        self.partner[i] = self.partner[j] = -1
        self.conj_end[i] = np.inf
        self.refractory_until[i] = t + self.p.seek_refractory_min
        self.heading[i] = math.atan2(self.y[i] - self.y[j], self.x[i] - self.x[j])  # leave outward
        self.running[i] = True

    def _conjugate(self, i: int, j: int, s: int, t: float) -> None:
        """Effector ``i`` binds target ``j`` at substep ``s`` (time ``t``)."""
        p, rng = self.p, self.rng
        t_shown = math.ceil((s + 1) / self.S) * self.fi  # first frame that shows the conjugate
        median, sigma = p.conjugation_min
        self.conj_end[i] = max(t + median * math.exp(sigma * rng.standard_normal()), t_shown + self.dt)
        self.next_event = min(self.next_event, self.conj_end[i])
        self.partner[i], self.partner[j] = j, i
        self.running[i] = False
        self.conj_phi[i] = math.atan2(self.y[i] - self.y[j], self.x[i] - self.x[j])
        radius = self._live_radius(t) * (1.0 - APOPTOTIC_SHRINK * self._progress(t))
        r_i, r_j = radius[i], radius[j]
        self.conj_dist[i] = r_i + r_j - rng.uniform(0.1, 0.9) * p.max_overlap * min(r_i, r_j)
        if not self.kill_decided[i, j]:
            self.kill_decided[i, j] = True
            if rng.random() < p.kill_prob:
                median, sigma = p.death_delay_min
                onset = self.first_contact[i, j] + median * math.exp(sigma * rng.standard_normal())
                self.onset[j] = min(self.onset[j], max(onset, t_shown + self.dt))

    def _contacts(self, s: int, t: float, radius: np.ndarray) -> None:
        """Record first contacts; free effectors touching free live targets may conjugate."""
        n = self.n
        alive = self.present[:n] & (t < self.onset[:n])
        is_e = self.cell_type[:n] == EFFECTOR
        eff, tgt = alive & is_e, alive & ~is_e
        if not (eff.any() and tgt.any()):
            return
        _, _, dist = pair_offsets(self.y[:n], self.x[:n])
        touch = (dist <= radius[:, None] + radius[None, :] + CONTACT_GAP_UM) & eff[:, None] & tgt[None, :]
        first = self.first_contact[:n, :n]
        first[touch & np.isinf(first)] = t
        ready = (self.partner[:n] < 0) & (self.refractory_until[:n] <= t)
        for i in np.flatnonzero((touch & ready[:, None]).any(axis=1)):
            cand = np.flatnonzero(touch[i] & (self.partner[:n] < 0))
            if not cand.size:
                continue
            j = int(cand[np.argmin(dist[i, cand])])
            if self.rng.random() < self.p.conjugation_prob:
                self._conjugate(int(i), j, s, t)
            else:  # a contact without a synapse: wander off for a while
                self.refractory_until[i] = t + self.p.seek_refractory_min
                self.heading[i] = math.atan2(self.y[i] - self.y[j], self.x[i] - self.x[j])

    # ----------------------------------------------------------------------------- motion
    def _move(self, s: int, t: float, live: np.ndarray, radius: np.ndarray) -> None:
        """Run/pause switching, steering, displacement, shape, separation and confinement."""
        p, n, dt = self.p, self.n, self.dt
        z, u = self.normals[s, :, :n], self.uniforms[s, :n]
        pres, partner, is_e = self.present[:n], self.partner[:n], self.cell_type[:n] == EFFECTOR
        alive = pres & (t < self.onset[:n])
        unbound = partner < 0
        free = alive & is_e & unbound
        tgt = alive & ~is_e
        conj = is_e & ~unbound
        y, x, heading, running = self.y[:n], self.x[:n], self.heading[:n], self.running[:n]

        starts = free & ~running & (u < self.p_start)
        running &= ~(free & (u < self.p_stop))
        running |= starts
        if starts.any():
            self.bout_speed[:n][starts] = self.speed[:n][starts] * np.exp(BOUT_SPEED_SPREAD * z[3][starts])
        run = free & running
        step = np.where(run, self.bout_speed[:n], np.where(tgt, self.speed[:n], 0.0)) * dt

        turn = z[0] * self.turn_sd[:n]
        new_heading = heading + turn
        seeker = free & (self.refractory_until[:n] <= t)
        seekable = tgt & unbound
        if seeker.any() and seekable.any():
            goal, gap, to_y, to_x = nearest_goal(y, x, radius, seeker, seekable, p.seek_range_um)
            has_goal = seeker & (goal >= 0)
            if has_goal.any():
                new_heading = steer(heading, turn, to_y, to_x, has_goal, p.seek_bias)
                step = np.where(has_goal & run, np.minimum(step, np.maximum(gap, 0.0) + CRAWL_ON_UM), step)
        moving = free | tgt
        heading[:] = np.where(moving, new_heading, heading)
        w_eff, w_tgt, w_dead = self.wobble_sd
        wobble = np.where(conj, 0.0, np.where(free, w_eff, np.where(tgt, w_tgt, w_dead)))
        y += step * np.sin(heading) + wobble * z[1]
        x += step * np.cos(heading) + wobble * z[2]

        e, ang = self.e[:n], self.ang[:n]
        e += np.where(alive, (np.where(run, self.e_run[:n], self.e_rest[:n]) - e) * self.polarize_gain, 0.0)
        ang[:] = np.where(run, heading, np.where(tgt, ang + self.target_spin_sd * z[4], ang))
        soft = None
        if conj.any():
            ci = np.flatnonzero(conj)
            j = partner[ci]
            phi = self.conj_phi
            phi[ci] += SLIDE_RAD * math.sqrt(dt) * z[0][ci]
            y[ci] = y[j] + self.conj_dist[ci] * np.sin(phi[ci])
            x[ci] = x[j] + self.conj_dist[ci] * np.cos(phi[ci])
            soft = np.ones((n, n), bool)
            soft[ci, j] = soft[j, ci] = False

        dead = pres & ~alive
        mobility = np.where(dead, MOBILITY["dead"], np.where(is_e, MOBILITY["effector"], MOBILITY["target"]))
        extent = footprint_reach_um(live, e)
        separate(y, x, radius, mobility, pres, soft, extent_um=extent, well_size_um=self.L,
                 max_overlap=p.max_overlap)
        heading[:] = turn_at_walls(y, x, heading, extent, self.L, moving)
        if conj.any():
            phi[ci] = np.arctan2(y[ci] - y[j], x[ci] - x[j])
            ang[ci] = phi[ci] + np.pi / 2
