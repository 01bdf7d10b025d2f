"""Plots of a deployed 2-D regression (a compiled KAN): the fitted surface and its error.

One figure: top row the target, the float model (with --checkpoint) and the
deployed graph on a grid over the unit square; bottom row the deployed
graph's error against the float model and against the target, and the
histogram of the error on the split's points.  PNG, PDF or SVG by suffix.
"""
from __future__ import annotations


import numpy as np

from snnc.io import atomic_path
from snnc.runtime.report import figure_bytes, plain_text, plot_format

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


__all__ = ["plot_format", "plot_regression", "render_regression"]
