"""KAN checkpoint -> float PWL (or Gemm + Relu) graph on `ideal`: the exact lowering of a linear-spline KAN.

A linear-spline KAN layer is a ReLU network (SEEDS.md part 2): every edge
function is ``f_qp(x) = sum_i c[q,p,i] B_i(x)`` with hat functions ``B_i``,
and every hat is a combination of ``ReLU(x - t_j)``.  Each layer becomes::

    expand   Gemm  per input p: R_j = x_p - t_j (j = 0..n-1) and N_0 = t_0 - x_p
                   (weights +-1, the knots as biases)
    relu     Relu
    ramps    Gemm  rho_0 = (R_0 - N_0 - R_1) / h_0,  rho_j = (R_j - R_{j+1}) / h_j,
                   rho_{n-1} = R_{n-1} / h_{n-1}: clamp((x - t_j) / h_j, 0, 1), the end
                   ramps unclamped outward (the linear extension beyond the end knots)
    hats     Gemm  B_0 = 1 - rho_0,  B_i = rho_{i-1} - rho_i,  B_n = rho_{n-1}
    edges    Gemm  one row per edge (q, p): sum_i (c[q,p,i] - m_qp) B_i + m_qp
    sum      Gemm  y_q = sum_p edge (q, p)   (weights 1)

``ReLU(u) - ReLU(-u) = u`` and the hats sum to one on all of R, so the graph
computes the model's function exactly in real arithmetic, beyond the domain
too (tested in float64 to round-off; the `ideal` graph runs in float32).

Why this form and not the shortest one (expand, relu, one Gemm with the ReLU
weights ``W = c A``): ``A`` is a second difference scaled by ``1/h``, so ``W``
is large and cancels, and int8 weights lose it (measured on the trained
[2, 5, 1] KAN, int16 activations: deployed MSE 2.2e-2 against 3.2e-5 float).
Here every row of expand, ramps and hats has weights of one magnitude
(exact in int8 with a per-row scale), and the coefficients ``c`` are the
well-conditioned spline ones, each edge with its own scale and centred on its
mid-range ``m_qp`` (the hats sum to one, so the centre moves into the bias):
4.5e-5 in the same measurement.  The channels must resolve far below the knot
spacing over the whole domain, so the graph asks for 16-bit activations
(``metadata["activation_bits"]``; int8 activations measured 3e-1).

`lowering="pwl"` (the default) gives each layer one `PWL` node instead: the knots
and the edge functions' values at them (the spline's own coefficients, exact for
order 2). Its constants grow as out x in x intervals, where the Gemm form's banded
matrices grow as (in x intervals)^2 (they are stored dense); on edge-int8 it runs
a segment search and one multiply-add per edge instead of five Gemms, and its
integer values and slopes keep the spline's resolution (measured: see
`DEFAULT_LOWERING`). `lowering="gemm"` keeps the form above (standard ops only).

Orders r > 2 have no exact form: `kan_float_net` refuses them unless
``pwl_segments`` asks for the piecewise-linear approximation of `kan_pwl`
(segment count and measured error in `KanNet.pwl`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from snnc.compiler.frontend.record import FloatNet
from snnc.compiler.ir import Graph, Input, Output, check_graph
from snnc.compiler.ir.dense import PWL, Gemm, Relu
from snnc.errors import CompileError, ConfigError, InputError

from .kan_pwl import approximate


@dataclass
class Affine:
    """``y = weights @ x + bias`` in float64 (a Gemm before it is cast to float32)."""

    weights: np.ndarray
    bias: np.ndarray


@dataclass
class KanNet(FloatNet):
    """The float net of a KAN checkpoint (task regression; `data` is the problem: name, split
    sizes, seed, normalisation lo/hi) and what verify needs to know about it."""

    model: object = None              # the order-2 KAN the graph computes (torch, float64)
    source: object = None             # the checkpoint's KAN (order r)
    pwl: list[dict] = field(default_factory=list)   # per layer: exact, or segments and max error


ACTIVATION_BITS = 16   # see the module docstring: int8 channels cannot resolve the knot spacing


def _expand(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``R_0 .. R_{n-1}, N_0`` per input: ``(in (n+1), in)`` weights, biases."""
    inputs, n = t.shape[0], t.shape[1] - 1
    w, b = np.zeros((inputs * (n + 1), inputs)), np.zeros(inputs * (n + 1))
    for p in range(inputs):
        rows = slice(p * (n + 1), (p + 1) * (n + 1))
        w[rows, p] = [1.0] * n + [-1.0]
        b[rows] = np.concatenate([-t[p, :n], [t[p, 0]]])
    return w, b


def _ramps(t: np.ndarray) -> np.ndarray:
    """``rho_j`` from ``R_j`` (see module docstring): ``(in n, in (n+1))``."""
    inputs, n = t.shape[0], t.shape[1] - 1
    h = np.diff(t, axis=1)
    w = np.zeros((inputs * n, inputs * (n + 1)))
    for p in range(inputs):
        r, c = p * n, p * (n + 1)
        for j in range(n):
            w[r + j, c + j] = 1.0 / h[p, j]
            if j + 1 < n:
                w[r + j, c + j + 1] = -1.0 / h[p, j]
        w[r, c + n] = -1.0 / h[p, 0]                # the unclamped left end: - N_0
    return w


def _hats(inputs: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``B_i`` from ``rho``: ``(in (n+1), in n)`` weights, biases (1 for ``B_0``)."""
    w, b = np.zeros((inputs * (n + 1), inputs * n)), np.zeros(inputs * (n + 1))
    for p in range(inputs):
        r, c = p * (n + 1), p * n
        for i in range(n + 1):
            if i > 0:
                w[r + i, c + i - 1] = 1.0
            if i < n:
                w[r + i, c + i] = -1.0
        b[r] = 1.0
    return w, b


def _edges(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge rows (centred coefficients, centre as bias) and the sum over each output's edges."""
    out, inputs, n_basis = coef.shape
    mid = (coef.max(axis=2) + coef.min(axis=2)) / 2                 # (out, in)
    w = np.zeros((out * inputs, inputs * n_basis))
    for q in range(out):
        for p in range(inputs):
            w[q * inputs + p, p * n_basis:(p + 1) * n_basis] = coef[q, p] - mid[q, p]
    total = np.kron(np.eye(out), np.ones((1, inputs)))
    return w, mid.reshape(-1), total


def knots_and_values(layer) -> tuple[np.ndarray, np.ndarray]:
    """(knots [in, n+1], values at them [out, in, n+1]) of an order-2 spline (or ReLU-basis)
    KAN layer: its hat coefficients are the edge functions' values at the knots."""
    if layer.order != 2:
        raise CompileError(f"order {layer.order} spline layer is not piecewise linear (no exact "
                           "Gemm + Relu or PWL form)")
    spline = layer.to_spline() if hasattr(layer, "to_spline") else layer
    return spline.knots().detach().numpy(), spline.coef.detach().numpy()


def lower_layer(layer) -> list[tuple[str, Affine | None]]:
    """One order-2 spline (or ReLU-basis) KAN layer as named float64 steps (None: Relu)."""
    t, coef = knots_and_values(layer)
    inputs, n = t.shape[0], t.shape[1] - 1
    edges, mid, total = _edges(coef)
    return [("expand", Affine(*_expand(t))), ("relu", None),
            ("ramps", Affine(_ramps(t), np.zeros(inputs * n))), ("hats", Affine(*_hats(inputs, n))),
            ("edges", Affine(edges, mid)), ("sum", Affine(total, np.zeros(coef.shape[0])))]


MAX_GEMM_WEIGHTS = 1 << 24  # one dense matrix of the Gemm lowering: 64 MB of float32 (an estimate of what a
                            # host builds at ease; 16x the edge-int8 flash budget, so never deployable anyway)


def lower_model(model) -> list[list[tuple[str, Affine | None]]]:
    for i, layer in enumerate(model.layers):
        inputs, points = layer.knots().shape
        rows, cols = max(inputs * points, layer.out_features * inputs), inputs * points
        if rows * cols > MAX_GEMM_WEIGHTS:
            raise CompileError(f"KAN layer {i}: the Gemm lowering needs a {rows} x {cols} matrix, more than "
                               f"{MAX_GEMM_WEIGHTS} weights (use --kan-lowering pwl, or fewer segments)")
    return [lower_layer(layer) for layer in model.layers]


def run_lowered(lowered, x: np.ndarray) -> np.ndarray:
    """The Gemm + Relu pipeline in float64 (the exactness check of the lowering itself)."""
    for steps in lowered:
        for _, op in steps:
            x = np.maximum(x, 0.0) if op is None else x @ op.weights.T + op.bias
    return x


LOWERINGS = ("pwl", "gemm")
DEFAULT_LOWERING = "pwl"   # measured on configs/kan_regression.toml, 5 seeds: deployed/float MSE 1.00-1.03x
                           # and 9.6 KB of flash, against 1.13-1.90x and 259 KB for "gemm"


def pwl_layer(layer) -> PWL:
    """One order-2 spline KAN layer as a float PWL node: knots [in, n+1], values [out, in, n+1]."""
    t, coef = knots_and_values(layer)
    return PWL(t.astype(np.float32), coef.astype(np.float32), bias=np.zeros(coef.shape[0], np.float32))


def kan_graph(model, lowering: str = DEFAULT_LOWERING) -> Graph:
    """``input -> [kan{i}_expand, _relu, _ramps, _hats, _edges, _sum]* -> output`` on `ideal`
    (`lowering="pwl"`: ``input -> kan{i}* -> output``, one PWL node per layer)."""
    if lowering not in LOWERINGS:
        raise ConfigError(f"KAN lowering must be one of {', '.join(LOWERINGS)}, got {lowering!r}")
    graph = Graph(target="ideal")
    prev = graph.add("input", Input(model.widths[0]))
    if lowering == "pwl":
        for i, layer in enumerate(model.layers):
            prev = graph.add(f"kan{i}", pwl_layer(layer), [prev])
    for i, steps in enumerate(lower_model(model) if lowering == "gemm" else []):
        for step, op in steps:
            node = Relu(graph.nodes[prev].out_size) if op is None else \
                Gemm(op.weights.astype(np.float32), op.bias.astype(np.float32))
            prev = graph.add(f"kan{i}_{step}", node, [prev])
    graph.add("output", Output(model.widths[-1], read="v", step=-1), [prev])
    graph.metadata.update(steps=1, activation_bits=ACTIVATION_BITS)
    return check_graph(graph)


def _order_check(model, path, pwl_segments) -> None:
    high = [(i, layer.order) for i, layer in enumerate(model.layers) if layer.order != 2]
    if high and pwl_segments is None:
        i, r = high[0]
        raise CompileError(f"{path}: layer {i} has order-{r} splines, which Gemm + Relu cannot express "
                           "exactly (only order 2 is piecewise linear); pass --pwl-segments S to "
                           "approximate every edge by S linear pieces (max error reported)")


def kan_float_net(checkpoint, pwl_segments: int | None = None, warn: bool = False,
                  lowering: str = DEFAULT_LOWERING) -> KanNet:
    """Read a KAN checkpoint and build its float graph (see module docstring). `warnings`
    holds what a user must see; `warn` also prints them now (the CLI prints them once the
    compile succeeded, so that a refusal stays one line)."""
    from snnc.train.checkpoint import file_sha256
    from snnc.train.kan.checkpoint import load_kan
    from snnc.train.kan.run import splits_of

    source, cfg, ckpt = load_kan(checkpoint)
    _order_check(source, checkpoint, pwl_segments)
    data = {"name": cfg.data.name, "n_train": cfg.data.n_train, "n_val": cfg.data.n_val,
            "n_test": cfg.data.n_test, "seed": cfg.data.seed, **ckpt["data"]}
    model, pwl, notes, warnings = source, [], [], []
    if any(layer.order != 2 for layer in source.layers):
        model, pwl = approximate(source, pwl_segments, splits_of(cfg).x_train)
        worst = max(r["max_edge_error"] for r in pwl if not r["exact"])
        notes.append(f"order-{ckpt['order']} splines approximated by {pwl_segments} linear pieces per "
                     f"input (not exact): max edge error {worst:.3g}")
        warnings.append(notes[-1])
        if warn:
            print(f"warning: {notes[-1]}", file=sys.stderr)
    elif pwl_segments is not None:
        notes.append(f"--pwl-segments {pwl_segments} not used: order-2 splines lower exactly")
    graph = kan_graph(model, lowering)
    info = {"sha256": file_sha256(checkpoint), "epoch": ckpt["epoch"], "order": ckpt["order"]}
    graph.metadata.update({"source": "kan-checkpoint", "checkpoint_sha256": info["sha256"],
                           "data": data, "task": "regression", "order": ckpt["order"],
                           "pwl_segments": pwl_segments if pwl else None, "kan_lowering": lowering})
    report = {"checkpoint": str(checkpoint), "checkpoint_sha256": info["sha256"], "order": ckpt["order"],
              "exact": not pwl or all(r["exact"] for r in pwl), "pwl": pwl, "lowering": lowering,
              "activation_bits": graph.metadata.get("activation_bits")}
    return KanNet(graph, 1, model.widths[-1], data, "kan", 1, list(graph.nodes), info, task="regression",
                  calibration=_training_points(graph), options={"pwl_segments": pwl_segments,
                                                                "kan_lowering": lowering},
                  report=report, notes=notes, warnings=warnings, model=model, source=source, pwl=pwl)


def _training_points(graph):
    """calibration(n): the first n training points of the KAN's problem (None: all of them)."""
    def calibration(n) -> np.ndarray:
        splits = splits_of_graph(graph)
        n_cal = len(splits.y_train) if n is None else int(n)
        if not 1 <= n_cal <= len(splits.y_train):
            raise CompileError(f"--calibrate must lie in [1, {len(splits.y_train)}] training points, got {n_cal}")
        return splits.x_train[:n_cal].numpy()[:, None, :]
    return calibration


def splits_of_graph(graph):
    """The train/val/test splits of the problem a KAN graph was compiled from (its metadata)."""
    from snnc.train.kan.problem import make_splits

    data = graph.metadata.get("data") or {}
    keys = ("n_train", "n_val", "n_test", "seed")
    if data.get("name") != "kan2d" or "task" not in graph.metadata or any(k not in data for k in keys):
        raise InputError("this graph carries no KAN regression problem in its metadata (not compiled "
                         "from a KAN checkpoint)")
    try:
        return make_splits(*(data[k] for k in keys))
    except ConfigError as exc:
        raise InputError(f"the graph's problem metadata: {exc}") from None


@torch.no_grad()
def torch_values(model, x: np.ndarray) -> np.ndarray:
    """The torch model (float64) on inputs ``x`` ``(B, in)``."""
    return model(torch.from_numpy(np.asarray(x, np.float64))).numpy()
