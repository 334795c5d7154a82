"""Simulator parameters: one pydantic model per stage, and the named presets.

Units are written into every field name or description: um (micrometres), min (minutes),
px (output pixels at ``ChipLayout.pixel_size_um``), rad, photo-electrons (e-).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Preset = Literal["easy", "standard", "hard", "other-scope", "other-scope-hard"]
PRESETS: tuple[str, ...] = ("easy", "standard", "hard", "other-scope", "other-scope-hard")
"""Every named preset, in the order the CLI lists them."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChipLayout(_Strict):
    """Geometry of the nanowell array and of the camera's field of view."""

    pixel_size_um: float = Field(0.65, gt=0, description="Output pixel size (um/px), 2x2-binned sCMOS at 20x.")
    oversample: int = Field(2, ge=1, le=4, description="Render at pixel_size_um/oversample, then bin.")
    field_px: int = Field(736, ge=128, description="Output field of view, square, in px.")
    well_size_um: float = Field(50.0, gt=0, description="Inner side of a square nanowell (um).")
    wall_um: float = Field(20.0, gt=0, description="PDMS wall between neighbouring wells (um).")
    block_gap_um: float = Field(30.0, ge=0, description="Extra PDMS between 6x6 blocks (um).")
    wells_per_block: int = Field(6, ge=1, description="Wells per block side (6 -> 6x6 blocks).")
    well_depth_um: float = Field(40.0, gt=0, description="Depth of a nanowell (um); wall phase step.")
    wall_slope_um: float = Field(2.5, gt=0, description="Horizontal width of the sloped wall edge (um).")
    field_offset_um: float = Field(8.0, ge=0, description="Max random offset of the block centre in the field (um).")

    @property
    def pitch_um(self) -> float:
        return self.well_size_um + self.wall_um


class OpticsParams(_Strict):
    """Zernike phase contrast, 20x/0.8 NA, in the Fourier plane (see ``optics``)."""

    wavelength_um: float = Field(0.55, gt=0, description="Centre wavelength of the illumination (um).")
    na: float = Field(0.8, gt=0, description="Objective numerical aperture (pupil cut-off NA/lambda).")
    ring_width_na: float = Field(0.08, gt=0, description="Width of the phase ring, as an NA (pupil radius of the shifted disc).")
    ring_transmission: float = Field(0.45, gt=0, le=1, description="Amplitude transmission of the phase ring.")
    ring_phase_rad: float = Field(1.5707963, description="Phase advance of the ring (+pi/2: positive phase contrast, dark cells).")
    ring_edge_na: float = Field(0.05, ge=0, description="Soft edge of the ring (NA), avoids hard ringing from an ideal disc.")
    n_medium: float = Field(1.335, description="Refractive index of the medium.")
    n_pdms: float = Field(1.41, description="Refractive index of the well-wall material (PDMS 1.41; a glass or "
                                            "hard-polymer array is higher).")
    n_cytoplasm: float = Field(1.36, description="Cytoplasm refractive index.")
    n_nucleus: float = Field(1.38, description="Nucleus refractive index.")
    n_apoptotic: float = Field(1.38, description="Condensed apoptotic cell refractive index.")
    absorption_per_um: float = Field(0.002, ge=0, description="Weak absorption of cell material (1/um of thickness).")


class ImagingParams(_Strict):
    """Illumination, camera noise, drifts and debris."""

    photons_background: float = Field(2500.0, gt=0, description="Mean photo-electrons per output px of clear medium.")
    read_noise_e: float = Field(1.6, ge=0, description="sCMOS read noise (e- rms).")
    gain_adu_per_e: float = Field(0.46, gt=0, description="Camera gain (ADU per e-).")
    offset_adu: float = Field(100.0, ge=0, description="Camera offset (ADU).")
    vignetting: float = Field(0.15, ge=0, lt=1, description="Fractional illumination drop at the field corners.")
    illumination_flicker: float = Field(0.01, ge=0, description="Frame-to-frame lamp fluctuation (fraction, sd).")
    drift_step_px: float = Field(0.3, ge=0, description="Stage drift random-walk step per frame (output px, sd per axis).")
    drift_jump_prob: float = Field(0.0, ge=0, le=1, description="Probability per frame of a stage jump.")
    drift_jump_px: float = Field(4.0, ge=0, description="Stage jump size (output px, sd per axis).")
    focus_offset_um: float = Field(0.5, ge=0, description="Initial defocus, sd (um).")
    focus_step_um: float = Field(0.12, ge=0, description="Focus drift random-walk step per frame (um, sd).")
    focus_trend_um_per_h: float = Field(0.0, description="Steady focus drift on top of the random walk (um per hour; "
                                                         "thermal drift of a stage without autofocus).")
    debris_per_field: int = Field(25, ge=0, description="Debris particles per field (dust, dead fragments).")
    fluor_background: float = Field(120.0, ge=0, description="Fluorescence background (e- per px).")
    fluor_brightness: float = Field(1500.0, gt=0, description="Peak dye signal of a labelled cell (e- per px).")
    fluor_psf_sigma_px: float = Field(1.0, gt=0, description="Fluorescence blur, Gaussian sd (output px).")
    bleach_per_frame: float = Field(0.004, ge=0, lt=1, description="Fractional dye bleaching per frame.")
    dye_dropout: float = Field(0.02, ge=0, lt=1, description="Fraction of cells that take up little dye.")


class BiologyParams(_Strict):
    """Loading, motility, contact, killing, division and effector death."""

    effectors_per_well: float = Field(1.2, ge=0, description="Poisson mean effectors per well at loading.")
    targets_per_well: float = Field(1.2, ge=0, description="Poisson mean targets per well at loading.")
    max_cells_per_well: int = Field(8, ge=1, description="Loading is truncated at this many cells.")
    effector_diameter_um: tuple[float, float] = Field((7.0, 9.0), description="Effector diameter range (um).")
    target_diameter_um: tuple[float, float] = Field((10.0, 12.0), description="Target diameter range (um).")
    effector_speed_um_min: tuple[float, float] = Field((5.0, 10.0), description="Effector speed while running (um/min).")
    effector_run_fraction: float = Field(0.6, ge=0, le=1, description="Fraction of time an effector runs (bursts).")
    target_speed_um_min: float = Field(0.6, ge=0, description="Target mean speed (um/min).")
    seek_range_um: float = Field(25.0, ge=0, description="Distance at which an effector senses a live target.")
    seek_bias: float = Field(0.5, ge=0, le=1, description="Weight of the chemotactic bias in the heading.")
    conjugation_prob: float = Field(0.7, ge=0, le=1, description="Probability that a contact becomes a conjugate.")
    conjugation_min: tuple[float, float] = Field((30.0, 0.6), description="Conjugation duration, lognormal (median min, sigma).")
    kill_prob: float = Field(0.45, ge=0, le=1, description="Probability that an effector-target pair's first conjugation kills the target (decided once per pair).")
    death_delay_min: tuple[float, float] = Field((60.0, 0.6), description="First contact to target death, lognormal (median min, sigma).")
    apoptosis_min: float = Field(40.0, gt=0, description="Time from death onset to full apoptotic morphology (min).")
    mitosis_prob: float = Field(0.03, ge=0, le=1, description="Probability that a live target divides during the movie.")
    effector_death_prob: float = Field(0.03, ge=0, le=1, description="Probability that an effector dies during the movie.")
    max_overlap: float = Field(0.35, ge=0, le=1, description="Largest overlap allowed between two footprints, as a fraction of the smaller radius.")
    substeps_per_frame: int = Field(5, ge=1, description="Integration steps per frame.")
    effector_run_bout_min: float = Field(4.0, gt=0, description="Mean duration of an effector run bout (min); pauses last bout * (1 - run_fraction) / run_fraction.")
    effector_persistence_min: float = Field(3.0, gt=0, description="Heading persistence time of a running effector (min).")
    effector_run_elongation: tuple[float, float] = Field((1.3, 1.6), description="Elongation range of a running (polarized) effector; paused ones are 1.0-1.1.")
    seek_refractory_min: float = Field(10.0, ge=0, description="After a release or a contact that did not conjugate, the effector wanders without seeking for this long (min).")


class SimConfig(_Strict):
    """Everything that determines a simulated chip, together with ``seed``."""

    seed: int = 0
    preset: Preset = "standard"
    n_fields: int = Field(2, ge=1)
    n_frames: int = Field(72, ge=1)
    frame_interval_min: float = Field(5.0, gt=0)
    layout: ChipLayout = ChipLayout()
    optics: OpticsParams = OpticsParams()
    imaging: ImagingParams = ImagingParams()
    biology: BiologyParams = BiologyParams()


_HARD = {
    "imaging": {"drift_step_px": 0.6, "drift_jump_prob": 0.03, "focus_offset_um": 1.0,
                "focus_step_um": 0.25, "debris_per_field": 60, "photons_background": 1500.0,
                "vignetting": 0.25, "dye_dropout": 0.05},
    "biology": {"effectors_per_well": 1.8, "targets_per_well": 1.6, "max_overlap": 0.5,
                "mitosis_prob": 0.06, "effector_death_prob": 0.06},
}
OTHER_SCOPE: dict[str, dict[str, object]] = {
    # another camera and objective: 0.5 um/px (the well crops are resampled to 0.65), a
    # larger sensor so the 6x6 block (400 um) still fits (912 px = 456 um; 2 x 912 + 96 =
    # 1920 px rendered, a fast FFT size)
    "layout": {"pixel_size_um": 0.5, "field_px": 912, "well_depth_um": 30.0, "wall_slope_um": 1.0},
    # a 20x/0.45 Ph1 long-working-distance objective: lower NA, a narrower and darker phase
    # ring (wider, stronger halos); wells moulded in a harder, higher-index polymer
    "optics": {"na": 0.45, "ring_width_na": 0.05, "ring_transmission": 0.35, "n_pdms": 1.46},
    # a dimmer lamp and a CCD (more read noise, a higher offset), stronger vignetting and
    # flicker, more defocus and a steady thermal focus drift (no autofocus); the dyes blur
    # over the same ~0.65 um, so over more of the smaller pixels
    "imaging": {"photons_background": 1000.0, "read_noise_e": 6.0, "offset_adu": 500.0, "vignetting": 0.3,
                "illumination_flicker": 0.02, "focus_offset_um": 1.0, "focus_step_um": 0.15,
                "focus_trend_um_per_h": 0.4, "fluor_brightness": 1200.0, "fluor_psf_sigma_px": 1.3},
    # other cell lines: larger effectors (8-10 um) and targets (K562-like, 13-16 um),
    # effectors slower and more elongated when they run, targets slower
    "biology": {"effector_diameter_um": (8.0, 10.0), "target_diameter_um": (13.0, 16.0),
                "effector_speed_um_min": (3.0, 6.0), "effector_run_elongation": (1.6, 2.1),
                "target_speed_um_min": 0.3},
}
"""The second simulated microscope (``other-scope``): a stand-in for a lab's own scope and
cell lines, which the default models never train on. Each difference from ``standard``
is listed in the README (section The simulator) with its number."""


def _merged(*parts: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for part in parts:
        for stage, fields in part.items():
            out[stage] = {**out.get(stage, {}), **fields}
    return out


_PRESETS: dict[str, dict[str, dict[str, object]]] = {
    "easy": {
        "imaging": {"drift_step_px": 0.1, "focus_offset_um": 0.2, "focus_step_um": 0.04,
                    "debris_per_field": 8, "photons_background": 4000.0},
        "biology": {"effectors_per_well": 1.0, "targets_per_well": 1.0, "max_overlap": 0.15},
    },
    "standard": {},
    "hard": _HARD,
    "other-scope": OTHER_SCOPE,
    # the other scope with the hard preset's drift, jumps, debris and crowding, and less
    # light and more defocus than other-scope (as hard has than standard)
    "other-scope-hard": _merged(OTHER_SCOPE, _HARD, {"imaging": {
        "photons_background": 600.0, "vignetting": 0.35, "focus_offset_um": 1.5, "focus_step_um": 0.25}}),
}


def preset_config(preset: Preset = "standard", **overrides: object) -> SimConfig:
    """Build a ``SimConfig`` for a named preset; top-level ``overrides`` (seed, n_fields, ...) win.

    >>> preset_config("hard", seed=3).imaging.debris_per_field
    60
    """
    if preset not in _PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(_PRESETS)}")
    parts = _PRESETS[preset]
    return SimConfig(
        preset=preset,
        layout=ChipLayout(**parts.get("layout", {})),
        optics=OpticsParams(**parts.get("optics", {})),
        imaging=ImagingParams(**parts.get("imaging", {})),
        biology=BiologyParams(**parts.get("biology", {})),
        **overrides,
    )


def preset_differences(a: Preset, b: Preset) -> list[tuple[str, str, object, object]]:
    """Every parameter where presets ``a`` and ``b`` differ: ``(stage, field, value in a,
    value in b)``, stages in ``SimConfig`` order (layout, optics, imaging, biology).

    >>> ("layout", "pixel_size_um", 0.65, 0.5) in preset_differences("standard", "other-scope")
    True
    """
    ca, cb = preset_config(a), preset_config(b)
    out = []
    for stage in ("layout", "optics", "imaging", "biology"):
        da, db = getattr(ca, stage).model_dump(), getattr(cb, stage).model_dump()
        out += [(stage, name, da[name], db[name]) for name in da if da[name] != db[name]]
    return out

