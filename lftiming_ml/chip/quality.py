"""Run-time quality of raw stacks (used by asset checks)."""

from __future__ import annotations

import numpy as np

from lftiming_ml.chip.reader import StackInfo


def unstable_frames(stacks: list[StackInfo], tolerance: float = 0.5) -> list[dict[str, object]]:
    """Frames whose mean intensity is off by more than ``tolerance`` (fraction) from the
    median of their stack: blank frames, shutter failures, lamp drop-outs.

    Returns one dict per bad frame: field, channel, frame, mean, median.
    """
    bad = []
    for s in stacks:
        med = float(np.median(s.frame_means))
        if med <= 0:
            continue
        for t in np.flatnonzero(np.abs(s.frame_means - med) > tolerance * med):
            bad.append({"field": s.field_id, "channel": s.channel, "frame": int(t),
                        "mean": round(float(s.frame_means[t]), 1), "median": round(med, 1)})
    return bad
