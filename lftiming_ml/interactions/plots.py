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
    """Plot killed fraction (1 - Kaplan-Meier survival) over time, one panel per E:T group.

    survival: ``survival.survival_by_group`` table. Each panel shows its group's curve with
    its 95% CI band and, dashed grey, the pooled curve 'all' for reference, so curves are
    compared without their bands covering each other. An empty table gives one empty panel.
    The counts are the curve's own: n = targets present at frame 0 (Kaplan-Meier enters no
    later target), dead = deaths of any cause among them, so they differ from
    ``well_outcomes``' killed counts, which cover every target track and only kills.
    """
    groups = [g for g in dict.fromkeys(survival["et_group"]) if g != "all"] or ["all"]
    pooled = survival[survival["et_group"] == "all"]
    n_cols = min(3, len(groups))
    n_rows = -(-len(groups) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols + 0.6, 2.9 * n_rows + 0.8), sharex=True,
                             sharey=True, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(groups):
            ax.set_visible(False)
            continue
        group = groups[k]
        curve = survival[survival["et_group"] == group]
        if len(pooled) and group != "all":
            ax.step(pooled["time_min"], 1 - pooled["survival"], where="post", color="0.45", ls="--", lw=1.2,
                    label=f"all groups (n={int(pooled['n_at_risk'].iloc[0])} at frame 0)")
        if len(curve):
            n = int(curve["n_at_risk"].iloc[0])
            ax.fill_between(curve["time_min"], 1 - curve["ci_high"], 1 - curve["ci_low"], step="post",
                            color="#c44e52", alpha=0.2, lw=0, label="95% CI")
            ax.step(curve["time_min"], 1 - curve["survival"], where="post", color="#c44e52", lw=2.0,
                    label=f"{group} (n={n} targets at frame 0)")
            ax.set_title(f"{group}: {int(curve['n_deaths'].sum())} of {n} frame-0 targets died (any cause)", fontsize=9)
        ax.set(ylim=(0, 1))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False, loc="upper left")
    for c in range(n_cols):  # the lowest panel of each column carries the time axis
        ax = axes[(len(groups) - 1 - c) // n_cols, c]
        ax.set_xlabel("time from movie start (min)")
        ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel("targets dead (1 - KM)")
    fig.suptitle(title or "Target death by E:T group (Kaplan-Meier, 95% CI)", fontsize=10)
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
