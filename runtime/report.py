"""Reports a person looks at (PNG: raster, rates, energy) and JSON for machines."""
from __future__ import annotations

import numpy as np

from snnc.io import atomic_path, write_json


def write_report(result, path) -> None:
    """The simulation summary as JSON, atomically."""
    write_json(path, result.summary())


def plot_report(result, path, sample: int = 0) -> None:
    """Raster of every population (one sample), per-node rates, energy breakdown."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pops = list(result.spikes)
    fig = plt.figure(figsize=(11, 2.2 * len(pops) + 3))
    grid = fig.add_gridspec(len(pops) + 1, 2, height_ratios=[2] * len(pops) + [2.4])
    for row, name in enumerate(pops):
        _raster(fig.add_subplot(grid[row, :]), name, _one_sample(result, name, sample))
    _rates(fig.add_subplot(grid[-1, 0]), result)
    _energy(fig.add_subplot(grid[-1, 1]), result)
    fig.suptitle(f"target '{result.target}': {result.steps} steps, energy {result.energy['total_j']:.3g} J")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _one_sample(result, name, sample):
    s = result.spikes[name]
    return s[sample] if result.batch is not None else s


def _raster(ax, name, spikes):
    t, n = np.nonzero(spikes)
    sizes = 16 + 10 * np.minimum(spikes[t, n], 8)  # multi-spike counts drawn larger
    ax.scatter(t, n, s=sizes, marker="|", color="k", linewidths=0.8)
    ax.set_xlim(-0.5, spikes.shape[0] - 0.5)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    ax.set_ylabel(f"{name}\nneuron")
    ax.set_xlabel("time step")


def _rates(ax, result):
    rates = result.rates()
    ax.bar(list(rates), list(rates.values()), color="tab:blue")
    ax.set_ylabel("spikes / neuron / step")
    ax.set_title("firing rates")
    ax.tick_params(axis="x", rotation=30)


def _energy(ax, result):
    terms = result.energy["terms"]
    ax.bar(list(terms), [v * 1e9 for v in terms.values()], color="tab:orange")
    ax.set_ylabel("energy (nJ)")
    estimated = result.energy.get("estimates", [])
    ax.set_title("energy by term" + (f" (estimates: {', '.join(estimated)})" if estimated else ""), fontsize=9)
    ax.tick_params(axis="x", rotation=30)
