"""Pictures of the kinetics for people: killing curves by E:T and kinetics distributions.

Matplotlib with the Agg backend (no display); each function writes one PNG atomically and
returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lftiming_ml.io import atomic_file  # noqa: E402

_KINETICS = (("t_seek_min", "tSeek: start to first contact"), ("t_contact_min", "tContact: first conjugation"),
             ("t_death_min", "tDeath: first contact to death"))


def _save(fig: plt.Figure, path: Path | str) -> Path:
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def killing_curves_png(survival: pd.DataFrame, path: Path | str, *, title: str = "") -> Path:
    """Plot killed fraction (1 - Kaplan-Meier survival) over time per E:T group, with CIs.

    survival: ``survival.survival_by_group`` table. The pooled curve 'all' is drawn black.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for group, curve in survival.groupby("et_group", sort=False):
        colour = "black" if group == "all" else None
        n = int(curve["n_at_risk"].iloc[0])
        line = ax.step(curve["time_min"], 1 - curve["survival"], where="post", color=colour,
                       lw=2.2 if group == "all" else 1.5, label=f"{group} (n={n})")[0]
        ax.fill_between(curve["time_min"], 1 - curve["ci_high"], 1 - curve["ci_low"], step="post",
                        color=line.get_color(), alpha=0.12, lw=0)
    ax.set(xlabel="time from movie start (min)", ylabel="targets killed or dead (1 - KM survival)",
           ylim=(0, 1), title=title or "Target death by E:T group (Kaplan-Meier, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def kinetics_distributions_png(interactions: pd.DataFrame, path: Path | str, *, title: str = "") -> Path:
    """Histograms of t_seek_min, t_contact_min (all interactions) and t_death_min (killed).

    interactions: ``kinetics.interaction_kinetics`` table (may hold several chips).
    """
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (column, label) in zip(axes, _KINETICS):
        values = interactions[column].dropna().to_numpy(dtype=float)
        if values.size:
            ax.hist(values, bins=min(30, max(5, values.size // 3)), color="#4c72b0", alpha=0.85)
            ax.axvline(float(pd.Series(values).median()), color="black", ls="--", lw=1)
        ax.set(xlabel=f"{column} (min)", ylabel="interactions", title=f"{label}\nn={values.size}")
        ax.title.set_fontsize(9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
