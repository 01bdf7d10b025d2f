"""Reports a person looks at (PNG: raster, rates, energy) and JSON for machines."""
from __future__ import annotations

import io

import numpy as np

from snnc.io import atomic_path, plot_format, write_json


def write_report(result, path) -> None:
    """The simulation summary as JSON, atomically."""
    write_json(path, result.summary())


def plot_report(result, path, sample: int = 0, per_inference: dict | None = None, title: str = "",
                read_step: int | None = None) -> None:
    """Raster of every population (one sample), per-node rates, energy breakdown.

    The format follows the suffix: .png, .pdf or .svg (anything else is refused).
    per_inference: `runtime.per_inference.energy(...)`; when given, the energy
    panel and title show joules per inference instead of the run's total.
    read_step: the step at which a non-spiking readout is decoded (marked).
    """
    data = render_plot(result, plot_format(path), sample, per_inference, title, read_step)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def plain_text(render):
    """Render with mathtext off: node names, file names and targets are the user's text,
    and a `$...$` in them must be drawn as it is, not parsed (`$\\frac{$` would raise)."""
    import functools

    @functools.wraps(render)
    def plain(*args, **kwargs):
        import matplotlib
        matplotlib.use("Agg")
        with matplotlib.rc_context({"text.parse_math": False}):
            return render(*args, **kwargs)
    return plain


@plain_text
def render_plot(result, fmt: str = "png", sample: int = 0, per_inference: dict | None = None,
                title: str = "", read_step: int | None = None) -> bytes:
    """The figure of `plot_report` as bytes in `fmt` (png, pdf, svg), written nowhere."""
    import matplotlib.pyplot as plt

    pops = list(result.spikes)
    fig = plt.figure(figsize=(11, 2.2 * len(pops) + 3))
    grid = fig.add_gridspec(len(pops) + 1, 2, height_ratios=[2] * len(pops) + [2.4])
    for row, name in enumerate(pops):
        spikes, v = _one_sample(result, name, sample), result.state.get(name, {}).get("v")
        if spikes.any() or v is None:
            _raster(fig.add_subplot(grid[row, :]), name, spikes)
        else:  # a non-spiking readout: its membrane is the answer
            _traces(fig.add_subplot(grid[row, :]), name, v[sample] if result.batch is not None else v, read_step)
    _rates(fig.add_subplot(grid[-1, 0]), result)
    _energy(fig.add_subplot(grid[-1, 1]), result, per_inference)
    e = (per_inference or result.energy)["energy_per_inference_j"]
    summary = f"energy {e['mean']:.3g} J per inference (std {e['std']:.2g})"
    fig.suptitle(f"{title + ': ' if title else ''}target '{result.target}', {result.steps} steps, {summary}")
    return figure_bytes(fig, fmt)


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure rendered to `fmt` (png, pdf, svg), then closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=110)
    finally:
        plt.close(fig)
    return buf.getvalue()


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


def _traces(ax, name, v, read_step=None):
    for j in range(v.shape[1]):
        ax.plot(np.arange(v.shape[0]), v[:, j], lw=1, label=str(j))
    if read_step is not None:
        ax.axvline(read_step % v.shape[0], color="k", ls="--", lw=0.8)
        ax.annotate("read", (read_step % v.shape[0], ax.get_ylim()[1]), fontsize=7, ha="right", va="top")
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
    """Energy per inference by term (the run's total divided by its samples when no
    per-inference report is given: each term is a sum over samples)."""
    samples = result.batch or 1
    terms = per_inference["terms_j"] if per_inference else {k: v / samples for k, v in result.energy["terms"].items()}
    ax.bar(list(terms), [v * 1e9 for v in terms.values()], color="tab:orange")
    ax.set_ylabel("energy per inference (nJ)")
    estimated = result.energy.get("estimates", [])
    which = "all terms" if set(estimated) >= set(terms) else ", ".join(estimated)
    ax.set_title("energy per inference by term" + (f" (estimated: {which})" if estimated else ""), fontsize=9)
    ax.tick_params(axis="x", rotation=30)
