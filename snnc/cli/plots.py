"""Figures a person looks at: a simulation's raster, rates and energy; a compiled KAN's
surface and error; the estimators' bias-variance trade-off (PNG, PDF or SVG by suffix)."""
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


# --- a compiled KAN on its 2-D regression ---------------------------------------

GRID = 121     # points per axis of the surface plots (estimate: smooth at 110 dpi)


def _grid_values(graph, checkpoint) -> tuple[np.ndarray, dict]:
    """Grid points ``(G*G, 2)`` and the surfaces on them: target, float, deployed."""
    import torch

    from snnc.compiler.frontend.kan import torch_values
    from snnc.runtime import deploy
    from snnc.train.kan.problem import target

    u = np.linspace(0.0, 1.0, GRID)
    pts = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 2)
    data = graph.metadata["data"]
    surfaces = {"target": ((target(torch.from_numpy(pts)).numpy() - data["lo"]) / (data["hi"] - data["lo"]))}
    if checkpoint is not None:
        from snnc.train.kan.checkpoint import load_kan
        surfaces["float"] = torch_values(load_kan(checkpoint)[0], pts)[:, 0]
    surfaces["deployed"] = deploy.run(graph, pts[:, None, :])[0][:, 0]
    return pts, surfaces


@plain_text
def render_regression(graph, fmt: str, checkpoint=None, values: dict | None = None, split: str = "test") -> bytes:
    """The figure as bytes; `values` may hold the split's "deployed" and "float" values
    already computed (verify has them), else they are computed here."""
    import matplotlib.pyplot as plt

    _, surf = _grid_values(graph, checkpoint)
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    for ax, key in zip(axes[0], ("target", "float", "deployed")):
        _surface(fig, ax, surf.get(key), f"{key} (normalised output)", "viridis", (0.0, 1.0))
    ref = "float" if "float" in surf else "target"
    for ax, base in zip(axes[1][:2], (ref, "target")):
        err = surf["deployed"] - surf[base]
        lim = float(np.abs(err).max()) or 1.0
        _surface(fig, ax, err, f"deployed - {base} (max |.| {lim:.2g})", "RdBu_r", (-lim, lim))
    _split_errors(axes[1][2], graph, checkpoint, values or {}, split)
    fig.suptitle(f"target '{graph.target}': deployed KAN on the 2-D regression")
    return figure_bytes(fig, fmt)


def _split_errors(ax, graph, checkpoint, values: dict, split: str) -> None:
    """Histogram of deployed - float (- target without a checkpoint) on the split's points."""
    from snnc.compiler.frontend.kan import splits_of_graph, torch_values
    from snnc.runtime import deploy
    from snnc.train.kan.checkpoint import load_kan

    x, y = (v.numpy() for v in splits_of_graph(graph).split(split))
    deployed, base = values.get("deployed"), values.get("float")
    deployed = deploy.run(graph, x[:, None, :])[0] if deployed is None else deployed
    if base is None and checkpoint is not None:
        base = torch_values(load_kan(checkpoint)[0], x)
    name = "target" if base is None else "float"
    _histogram(ax, (deployed - (y if base is None else base)).ravel(), name, split)


def _surface(fig, ax, values, title, cmap, limits) -> None:
    if values is None:
        ax.set_axis_off()
        ax.set_title("float: pass --checkpoint")
        return
    im = ax.imshow(values.reshape(GRID, GRID), origin="lower", extent=(0, 1, 0, 1), cmap=cmap,
                   vmin=limits[0], vmax=limits[1])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.colorbar(im, ax=ax, shrink=0.8)


def _histogram(ax, err: np.ndarray, base: str, split: str) -> None:
    ax.hist(err, bins=80, color="tab:blue")
    ax.set_yscale("log")
    ax.set_title(f"deployed - {base}, {split} split ({len(err)} points)", fontsize=9)
    ax.set_xlabel("error")


def plot_regression(graph, path, checkpoint=None, values: dict | None = None, split: str = "test") -> None:
    data = render_regression(graph, plot_format(path), checkpoint, values, split)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# --- the IW-ST estimators' bias-variance trade-off --------------------------------

def _label(row: dict) -> str:
    params = ",".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                      for k, v in row["params"].items())
    return f"{row['estimator']}({params})" if params else row["estimator"]


def plot_tradeoff(rows: list[dict], path) -> None:
    """Log-log scatter of relative bias against relative variance, one labelled point a row."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    colours = {}
    for i, row in enumerate(rows):
        c = colours.setdefault(row["estimator"], f"C{len(colours)}")
        ax.scatter(row["variance"], row["bias"], color=c, s=18)
        # staggered offsets: rows of one tau sit on top of each other
        ax.annotate(_label(row), (row["variance"], row["bias"]), fontsize=6,
                    xytext=(3, 7 * (i % 4) - 10), textcoords="offset points")
    for name, c in colours.items():
        ax.scatter([], [], color=c, label=name)
    ax.set(xscale="log", yscale="log", xlabel="relative variance E||g - E g||^2 / ||g*||^2",
           ylabel="relative bias ||E g - g*|| / ||g*||", title="IW-ST family: bias-variance trade-off")
    ax.legend(fontsize=8)
    fig.tight_layout()
    from snnc.io import plot_format

    try:
        fmt = plot_format(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=120)
    finally:
        plt.close(fig)
