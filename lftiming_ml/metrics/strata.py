"""Well strata used by every report: E:T composition and crowding, as in the paper."""

from __future__ import annotations

STRATA = ("1E1T", "1E2T", "2E1T", "2E2T", ">4 cells", "other")


def et_stratum(n_effectors: int, n_targets: int) -> str:
    """The E:T stratum of a well from its loaded counts: '1E1T', '1E2T', '2E1T', '2E2T',
    '>4 cells' (more than four cells in all), or 'other' (e.g. 0E1T, 3E1T)."""
    if n_effectors + n_targets > 4:
        return ">4 cells"
    key = f"{n_effectors}E{n_targets}T"
    return key if key in STRATA else "other"


def is_contact_rich(contact_frames: int, n_frames: int, *, min_fraction: float = 0.25) -> bool:
    """A well is contact-rich when cells touch in at least ``min_fraction`` of its frames."""
    return n_frames > 0 and contact_frames / n_frames >= min_fraction
