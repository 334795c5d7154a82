"""The review queue's picture: the distribution of a chip's suspicion scores.

Matplotlib with the Agg backend (no display); writes one PNG atomically and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lftiming_ml.io import atomic_file  # noqa: E402

SHARES = (0.05, 0.10, 0.20)
"""Top shares of the queue marked on the plot."""


def score_distribution_png(queue: pd.DataFrame, path: Path | str, *, title: str = "") -> Path:
    """Histogram of ``queue['score']`` (one value per well, in [0, 1]) with the score above
    which the top 5%, 10% and 20% of wells lie; writes ``path`` (PNG)."""
    scores = np.sort(queue["score"].to_numpy(np.float64))[::-1]
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    ax.hist(scores, bins=np.linspace(0.0, 1.0, 41), color="#4c72b0")
    for share, colour in zip(SHARES, ("#c44e52", "#dd8452", "#937860")):
        if len(scores):
            cut = scores[max(int(np.ceil(share * len(scores))) - 1, 0)]
            ax.axvline(cut, color=colour, ls="--", lw=1, label=f"top {share:.0%} from {cut:.2f}")
    ax.set_xlabel("suspicion score (estimated probability of an error in the well)")
    ax.set_ylabel("wells")
    ax.set_xlim(0, 1)
    ax.set_title(title or f"review queue: {len(scores)} wells", fontsize=9)
    if len(scores):
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


__all__ = ["SHARES", "score_distribution_png"]
