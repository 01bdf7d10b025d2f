"""Reports a person looks at (PNG: raster, rates, energy) and JSON for machines."""
from __future__ import annotations

import numpy as np

from snnc.io import atomic_path, write_json


def write_report(result, path) -> None:
    """The simulation summary as JSON, atomically."""
    write_json(path, result.summary())


def plot_report(result, path, sample: int = 0, per_inference: dict | None = None, title: str = "") -> None:
    """Raster of every population (one sample), per-node rates, energy breakdown.

    per_inference: `runtime.per_inference.energy(...)`; when given, the energy
    panel and title show joules per inference instead of the run's total.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pops = list(result.spikes)
    fig = plt.figure(figsize=(11, 2.2 * len(pops) + 3))
    grid = fig.add_gridspec(len(pops) + 1, 2, height_ratios=[2] * len(pops) + [2.4])
    for row, name in enumerate(pops):
        spikes, v = _one_sample(result, name, sample), result.state.get(name, {}).get("v")
        if spikes.any() or v is None:
            _raster(fig.add_subplot(grid[row, :]), name, spikes)
        else:  # a non-spiking readout: its membrane is the answer
            _traces(fig.add_subplot(grid[row, :]), name, v[sample] if result.batch is not None else v)
    _rates(fig.add_subplot(grid[-1, 0]), result)
    _energy(fig.add_subplot(grid[-1, 1]), result, per_inference)
    if per_inference:
        e = per_inference["energy_per_inference_j"]
        summary = f"energy {e['mean']:.3g} J per inference (std {e['std']:.2g})"
    else:
        summary = f"energy {result.energy['total_j']:.3g} J"
    fig.suptitle(f"{title + ': ' if title else ''}target '{result.target}', {result.steps} steps, {summary}")
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


def _traces(ax, name, v):
    for j in range(v.shape[1]):
        ax.plot(np.arange(v.shape[0]), v[:, j], lw=1, label=str(j))
    ax.set_ylabel(f"{name}\nv")
    ax.set_xlabel("time step")
    ax.legend(ncol=min(v.shape[1], 10), fontsize=7, loc="upper left", title="neuron", title_fontsize=7)


def _rates(ax, result):
    rates = result.rates()
    ax.bar(list(rates), list(rates.values()), color="tab:blue")
    ax.set_ylabel("spikes / neuron / step")
    ax.set_title("firing rates")
    ax.tick_params(axis="x", rotation=30)


def _energy(ax, result, per_inference=None):
    terms = per_inference["terms_j"] if per_inference else result.energy["terms"]
    ax.bar(list(terms), [v * 1e9 for v in terms.values()], color="tab:orange")
    ax.set_ylabel("energy per inference (nJ)" if per_inference else "energy (nJ)")
    estimated = result.energy.get("estimates", [])
    ax.set_title("energy by term" + (f" (estimates: {', '.join(estimated)})" if estimated else ""), fontsize=9)
    ax.tick_params(axis="x", rotation=30)
