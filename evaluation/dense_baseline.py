"""The dense baseline: the non-spiking int8 network of the same accuracy on `edge-int8`.

Beside every spiking result (`snnc demo`, `benchmarks/energy_front.py`) this answers
"would a plain int8 MLP on a microcontroller do the same job for less energy?":

1. the data: the spiking net's data set in analog form, same split and class subset
   (`ANALOG_FORM`): rate-coded digits are Bernoulli draws of the pixel intensities,
   so the dense net reads those intensities (`encoding = "direct"`, one step);
   row-sequential digits (digits-seq) are the same images row by row, so the dense
   net reads the whole image at once (intensity / 16; Xylo's clip of the counts at
   15 is not applied: it changes only pixels at full intensity);
2. the network: a one-hidden-layer ReLU MLP (scikit-learn's `MLPClassifier`, Adam,
   seeded) trained on the "train" split for every width of a small grid;
3. the width rule: the smallest width whose accuracy on the "val" split reaches
   the requested accuracy minus `MATCH_MARGIN`; when no width reaches it, the width
   with the best validation accuracy (smallest on ties) and `reached = false`. The
   demo and the energy front request the spiking net's float test accuracy (a
   target to meet; the dense net's own test split is read only after the choice);
4. the deployment: the float Gemm+Relu graph on `ideal` lowered by edge-int8's flow
   (TFLite post-training int8, calibrated on training samples), run on the test
   split by the dense executor; accuracy, energy per inference (edge-int8's table:
   Horowitz 45 nm operation energies, `snnc targets`), MACs, flash and RAM are all
   measured on that integer graph;
5. the check: the same test split through edge-int8's reference executor, TFLite's
   reference kernels (LiteRT BUILTIN_REF on the exported .tflite model:
   targets/edge_int8/spec.py REFERENCE_EXECUTOR), every layer's integers compared with
   the simulator's (`tflite_agreement`: the share of samples equal at every layer; None
   with `tflite_unavailable` where LiteRT is not installed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.errors import InputError

WIDTHS = (4, 8, 16, 32, 64, 128)   # hidden units tried (a 64-pixel input; 128 already over-fits digits)
MATCH_MARGIN = 0.005               # "same accuracy": within half a point of the requested accuracy
MAX_ITER = 300                     # Adam epochs; digits' training loss stops falling well before (estimate)
DEAD_ROW = 1e-6                    # estimate: such a row moves its unit's input by < 64e-6 x the peak weight
CALIBRATE = 256                    # training samples for the int8 ranges (the compiler's default)
# data set of a spiking net -> the loader name of its analog form (see the module docstring)
ANALOG_FORM = {"digits": "digits", "digits-seq": "digits"}


@dataclass
class Candidate:
    """One trained width: its validation accuracy and its float layers [(W [out, in], b [out])]."""

    width: int
    val_accuracy: float
    layers: list


def analog_data(data: dict) -> dict:
    """The data config of the dense baseline: analog, one step, the same classes and validation share."""
    name = data.get("name")
    if name not in ANALOG_FORM:
        raise InputError(f"dense baseline: data set '{name}' has no analog form here "
                         f"(known: {', '.join(ANALOG_FORM)})")
    out = {"name": ANALOG_FORM[name], "encoding": "direct", "steps": 1}
    for key in ("classes", "val_fraction"):
        if data.get(key) is not None:
            out[key] = data[key]
    return out


def _split(data: dict, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x [B, N] float32, y [B]) of `split` of an analog data config."""
    from snnc.evaluation import datasets

    x, y = datasets.load_split(data, split, limit=limit)
    return x.reshape(len(x), -1).astype(np.float32), y


def fit_mlp(x: np.ndarray, y: np.ndarray, width: int, seed: int, max_iter: int = MAX_ITER) -> list:
    """Float layers [(W, b), (W, b)] of a ReLU MLP [N, width, classes] trained on (x, y)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(width,), activation="relu", solver="adam",
                        max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():   # a capped epoch count is the setting, not an accident
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x, y)
    if list(mlp.classes_) != list(range(len(mlp.classes_))):
        raise InputError(f"dense baseline: training labels must be 0..n-1, got {list(mlp.classes_)}")
    return [(flush_dead_rows(w.T.astype(np.float32)), b.astype(np.float32))
            for w, b in zip(mlp.coefs_, mlp.intercepts_)]


def flush_dead_rows(w: np.ndarray) -> np.ndarray:
    """Zero the weight rows of units that weight decay has all but killed (peak |w| below
    DEAD_ROW x the layer's peak): per-channel int8 would give such a row a scale so small that
    its bias cannot fit int32 (QuantiseEdge refuses it); its unit is the constant relu(b) anyway."""
    peak = np.abs(w).max(axis=1)
    w = w.copy()
    w[peak < DEAD_ROW * peak.max(initial=0)] = 0.0
    return w


def float_logits(layers: list, x: np.ndarray) -> np.ndarray:
    """The MLP in float64 numpy (ReLU between layers): logits [B, classes]."""
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T.astype(np.float64) + b
        h = np.maximum(h, 0.0) if i < len(layers) - 1 else h
    return h


class WidthGrid:
    """MLPs of the grid's widths, trained on "train" and scored on "val" when first needed
    (the test split is never read here); `pick` applies the width rule."""

    def __init__(self, data: dict, widths=WIDTHS, seed: int = 0, max_iter: int = MAX_ITER):
        if not widths:
            raise InputError("dense baseline: the width grid is empty")
        self.data, self.widths, self.seed, self.max_iter = data, sorted(int(w) for w in widths), seed, max_iter
        self.trained: dict[int, Candidate] = {}
        self._xy = None

    def candidate(self, width: int) -> Candidate:
        if width not in self.trained:
            if self._xy is None:
                self._xy = (_split(self.data, "train"), _split(self.data, "val"))
            (x, y), (xv, yv) = self._xy
            layers = fit_mlp(x, y, width, self.seed, self.max_iter)
            acc = float(np.mean(float_logits(layers, xv).argmax(axis=1) == yv))
            self.trained[width] = Candidate(width, acc, layers)
        return self.trained[width]

    def pick(self, requested: float, margin: float = MATCH_MARGIN) -> tuple[Candidate, bool]:
        """(the smallest width with val accuracy >= requested - margin, True), else (the best, False).
        Widths above the one chosen are not trained: the rule cannot pick them."""
        for width in self.widths:
            if self.candidate(width).val_accuracy >= requested - margin:
                return self.trained[width], True
        return max(self.trained.values(), key=lambda c: (c.val_accuracy, -c.width)), False

    def rows(self) -> list[dict]:
        return [{"width": w, "val_accuracy": c.val_accuracy} for w, c in sorted(self.trained.items())]


def float_graph(cand: Candidate):
    """The float Gemm+Relu graph of a candidate on `ideal`, read as logits by its Output."""
    from snnc.compiler.ir import Graph, Input, Output
    from snnc.compiler.ir.dense import Gemm, Relu

    g = Graph(target="ideal")
    g.add("input", Input(cand.layers[0][0].shape[1]))
    src = "input"
    for i, (w, b) in enumerate(cand.layers):
        g.add(f"gemm{i}", Gemm(w, b), [src])
        src = f"gemm{i}"
        if i < len(cand.layers) - 1:
            g.add(f"relu{i}", Relu(w.shape[0]), [src])
            src = f"relu{i}"
    g.add("output", Output(cand.layers[-1][0].shape[0], read="v", step=-1), [src])
    g.metadata.update(steps=1, source="dense-baseline", hidden=cand.width)
    return g


def compile_edge(cand: Candidate, data: dict, calibrate: int = CALIBRATE):
    """The candidate lowered to `edge-int8` (`compiler.compile.compile_net`): a Compiled."""
    from snnc.compiler.compile import compile_net
    from snnc.compiler.frontend import FloatNet

    graph = float_graph(cand)
    layers = [f"gemm{i}" for i in range(len(cand.layers))]
    front = FloatNet(graph, 1, cand.layers[-1][0].shape[0], dict(data), "mean", 1, layers,
                     {"source": "dense-baseline"})
    return compile_net(front, "edge-int8", calibrate)


def measure(graph, data: dict) -> dict:
    """Deployed accuracy, energy per inference, MACs, flash and RAM of an edge-int8 graph on "test"."""
    from snnc.runtime import deploy
    from snnc.evaluation import datasets
    from snnc.runtime.per_inference import energy
    from snnc.targets import get as get_target

    x, y = datasets.load_split(data, "test")
    logits, result = deploy.run(graph, x)
    e = energy(graph, result.spikes)
    check = tflite_agreement(graph, x, result)
    use = get_target(graph.target).usage(graph)
    return {"deployed_accuracy": float(np.mean(logits.argmax(axis=1) == y)),
            "energy_per_inference_j": e["energy_per_inference_j"]["mean"],
            "energy_per_inference_std_j": e["energy_per_inference_j"]["std"],
            "energy_terms_j": e["terms_j"], "energy_estimated_terms": e["estimates"],
            "energy_sensitivity": e["sensitivity"],
            "macs_per_inference": int(use["macs"]), "flash_bytes": int(use["flash_bytes"]),
            "ram_bytes": int(use["ram_bytes"]), "overflow_events": int(result.totals.get("overflow_events", 0)),
            "test_samples": int(len(y)), **check}


def tflite_agreement(graph, x: np.ndarray, result) -> dict:
    """The share of samples x whose every layer's integers in TFLite's reference kernels (edge-int8's
    `tflite` executor) equal the simulator's `result`."""
    from snnc.errors import BackendUnavailable
    from snnc.runtime import deploy
    from snnc.targets import get as get_target
    from snnc.targets.registry import resolve

    try:
        out = resolve(get_target(graph.target).executors["tflite"])(graph, deploy.pad_input(graph, x))
    except BackendUnavailable as exc:
        return {"tflite_agreement": None, "tflite_unavailable": str(exc)}
    equal = np.ones(len(x), bool)
    for layer, values in out.items():
        if "v" in values:   # a Gemm fused into its Step's op has no tensor of its own
            equal &= np.all(values["v"] == np.asarray(result.state[layer]["v"]), axis=(1, 2))
    return {"tflite_agreement": float(equal.mean())}


def dense_baseline(data: dict, requested: float, widths=WIDTHS, seed: int = 0, calibrate: int = CALIBRATE,
                   grid: WidthGrid | None = None, save_to=None) -> dict:
    """The dense int8 baseline of a spiking net's data config `data` at `requested` accuracy
    (a JSON-ready row; module docstring). `grid`: a WidthGrid of `analog_data(data)` to reuse."""
    analog = analog_data(data)
    grid = WidthGrid(analog, widths, seed) if grid is None else grid
    if grid.data != analog:
        raise InputError(f"dense baseline: the grid was trained on {grid.data}, not on {analog}")
    cand, reached = grid.pick(requested)
    compiled = compile_edge(cand, analog, calibrate)
    if save_to is not None:
        from snnc.compiler.ir import save

        save(compiled.graph, save_to)
    xt, yt = _split(analog, "test")
    return {"method": "dense-int8", "target": "edge-int8", "width": cand.width,
            "rule": f"smallest hidden width with val accuracy >= {requested:.4f} - {MATCH_MARGIN}",
            "requested_accuracy": float(requested), "reached": reached, "val_accuracy": cand.val_accuracy,
            "grid": grid.rows(),
            "float_accuracy": float(np.mean(float_logits(cand.layers, xt).argmax(axis=1) == yt)),
            **measure(compiled.graph, analog), "data": analog, "seed": seed, "calibrate": calibrate}


def winner(ratio: float, target: str) -> str:
    """Which side uses less energy per inference, given dense / spiking energy."""
    if ratio < 1:
        return f"the dense int8 net on edge-int8 wins on energy ({1 / ratio:.3g}x less)"
    return f"{target} wins on energy ({ratio:.3g}x less than the dense int8 net on edge-int8)"


def verdict(dense: dict, spiking_energy_j: float, spiking_accuracy: float, target: str) -> str:
    """One sentence: which side uses less energy per inference at (about) that accuracy."""
    side = winner(dense["energy_per_inference_j"] / spiking_energy_j, target)
    same = "" if dense["reached"] else " (the dense grid did not reach the requested accuracy)"
    break_even = spiking_energy_j / max(dense["macs_per_inference"], 1)
    return (f"at accuracy {spiking_accuracy:.4f} ({target}) vs {dense['deployed_accuracy']:.4f} "
            f"(dense, width {dense['width']}): {side}{same}; edge-int8 counts arithmetic and memory "
            f"reads only (45 nm figures), so {target} wins wherever a whole MCU spends more than "
            f"{break_even:.3g} J per MAC")


def config_data(config_path) -> dict:
    """The [data] table of a training config (TOML), as the spiking net was trained on it."""
    from snnc.train import config as config_mod

    return dict(config_mod.load(config_path).data.__dict__)


def beside(spiking: dict, data: dict, grid: WidthGrid, target: str, requested: float, save_to=None) -> dict:
    """The dense baseline of one spiking result (`energy_per_inference_j`, `deployed_accuracy`),
    as `dense_baseline` returns it plus the energy ratio and the verdict sentence."""
    import time

    t0 = time.time()
    dense = dense_baseline(data, requested, grid=grid, save_to=save_to)
    ratio = dense["energy_per_inference_j"] / spiking["energy_per_inference_j"]
    # what one MAC on the MCU may cost, all overheads included, before the spiking net wins
    break_even = spiking["energy_per_inference_j"] / dense["macs_per_inference"]
    return {**dense, "energy_ratio_to_spiking": ratio, "break_even_j_per_mac": break_even,
            "seconds": round(time.time() - t0, 1),
            "verdict": verdict(dense, spiking["energy_per_inference_j"], spiking["deployed_accuracy"], target)}


def front_row(spiking: dict, data: dict, grid: WidthGrid) -> dict:
    """A `benchmarks/energy_front.py` row (its JSON keys) for the dense baseline of a front point
    at that point's float accuracy; `synaptic_events_per_inference` is the MAC count (every MAC
    is one synaptic operation of a dense net), a dense net has no spikes."""
    d = beside(spiking, data, grid, spiking["target"], spiking["float_accuracy"])
    keep = ("width", "val_accuracy", "requested_accuracy", "reached", "tflite_agreement", "macs_per_inference",
            "flash_bytes", "ram_bytes", "energy_ratio_to_spiking", "break_even_j_per_mac", "verdict", "energy_estimated_terms")
    return {"method": "dense-int8", "target": "edge-int8", "penalty": spiking["penalty"],
            "beside": {"method": spiking["method"], "target": spiking["target"], "penalty": spiking["penalty"]},
            "float_accuracy": d["float_accuracy"], "hidden_spike_rate": 0.0,
            "deployed_accuracy": d["deployed_accuracy"], "energy_per_inference_j": d["energy_per_inference_j"],
            "energy_per_inference_std_j": d["energy_per_inference_std_j"],
            "synaptic_events_per_inference": float(d["macs_per_inference"]), "spikes_per_inference": 0.0,
            "test_samples": d["test_samples"], **{k: d[k] for k in keep}, "seconds": d["seconds"]}


def summary_line(d: dict, target: str) -> str:
    """The demo's line under a job: the dense baseline's accuracy, energy and ratio, and who wins."""
    short = "" if d["reached"] else ", requested accuracy not reached"
    t = d.get("tflite_agreement")
    check = "; LiteRT unavailable" if t is None else f"; TFLite reference kernels agree {t:.3f} (every layer)"
    return (f"  dense int8 on edge-int8 (hidden {d['width']}{short}): deployed {d['deployed_accuracy']:.4f}{check}, "
            f"{d['energy_per_inference_j']:.3g} J/inf = {d['energy_ratio_to_spiking']:.3g}x {target}'s: "
            f"{winner(d['energy_ratio_to_spiking'], target)}")
