"""SynSense's xylosim (v2 `XyloLayer`) as snnc's independent Xylo reference.

Parameters use xylosim's / Rockpool's names and shapes:

    w_in  [n_in, n_hid, n_syn] int8    w_rec [n_hid, n_hid, n_syn] int8
    w_out [n_hid, n_out]       int8    (n_syn is 1 or 2, from dash_syn)
    threshold [n_hid], threshold_out [n_out]        int16, >= 1
    bias [n_hid], bias_out [n_out]                  int16
    weight_shift_in / _rec / _out                   left shift of the weights, 0..7
    dash_mem [n_hid], dash_mem_out [n_out]          bit-shift decays
    dash_syn [n_hid, n_syn], dash_syn_out [n_out, 1]

Their ranges are the Xylo target's (`snnc.targets.xylo.RANGES`), so that
xylosim takes exactly the parameters a Xylo graph can hold.

Per step xylosim delivers the input spikes (counts, at most 15 per channel)
and last step's hidden spikes, then evolves hidden and readout neurons:
`i <- i - max(i >> dash, sign(i))`, `v <- v - max(v >> dash_mem, sign(v)) + sum(i)
+ bias` (16-bit saturating), and `while v >= th: spikes++, v -= th` up to 31
hidden or 1 readout spike.

`XyloLayer` keeps raw pointers to the `XyloSynapse` objects it is given, so the
synapses live in `XyloNet` beside the layer for as long as the layer does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.errors import BackendUnavailable, InputError
from snnc.targets.xylo import RANGES, params_from_graph, xylo_populations

# xylosim's parameter -> the Xylo target's range that bounds it (targets/xylo.py)
PARAM_RANGES = {
    "w_in": RANGES["weight"], "w_rec": RANGES["weight"], "w_out": RANGES["weight"],
    "threshold": RANGES["threshold"], "threshold_out": RANGES["threshold"],
    "bias": RANGES["bias"], "bias_out": RANGES["bias"],
    "weight_shift_in": RANGES["weight_shift"], "weight_shift_rec": RANGES["weight_shift"],
    "weight_shift_out": RANGES["weight_shift"],
    "dash_mem": RANGES["dash_mem"], "dash_mem_out": RANGES["dash_mem"],
    "dash_syn": RANGES["dash_syn"], "dash_syn_out": RANGES["dash_syn"],
}


def xylosim_v2():
    """Import xylosim.v2, or say in one line how to get it."""
    try:
        from xylosim import v2
    except ImportError as exc:
        raise BackendUnavailable(
            f"xylosim backend unavailable ({exc}); run `make install` "
            "(pip install xylosim, builds with pybind11)") from None
    return v2


def checked(params: dict, key: str, shape: tuple) -> np.ndarray:
    """params[key] (a scalar broadcasts) as int64 of `shape` within its range, else InputError."""
    if key not in params:
        raise InputError(f"xylosim params: missing '{key}'")
    val = np.asarray(params[key])
    if val.ndim == 0 and shape:  # a scalar stands for every neuron, as in graph_from_xylo
        val = np.broadcast_to(val, shape)
    if val.shape != shape:
        raise InputError(f"xylosim params: '{key}' must have shape {shape}, got {val.shape}")
    if val.size and not (np.issubdtype(val.dtype, np.integer) or np.all(np.mod(val, 1) == 0)):
        raise InputError(f"xylosim params: '{key}' must be integers, got {val.dtype}")
    bounds = PARAM_RANGES[key]
    if not bounds.holds(val):
        raise InputError(f"xylosim params: '{key}' must lie in {bounds}, got [{val.min()}, {val.max()}]")
    return val.astype(np.int64)


def with_syn_axis(params: dict, key: str, n_syn: int) -> dict:
    """Accept [pre, post] for n_syn == 1 (Rockpool does) as [pre, post, 1]."""
    val = np.asarray(params.get(key))
    if n_syn == 1 and val.ndim == 2:
        return {**params, key: val[..., None]}
    return params


def population_sizes(params: dict) -> tuple[int, int, int]:
    """(n_hid, n_syn, n_out), read from w_rec and w_out (other params may be scalars)."""
    w_rec, w_out = np.asarray(params.get("w_rec", [])), np.asarray(params.get("w_out", []))
    if w_rec.ndim == 2:
        w_rec = w_rec[..., None]
    if w_rec.ndim != 3 or w_rec.shape[0] != w_rec.shape[1] or w_rec.shape[2] not in (1, 2):
        raise InputError(f"xylosim params: 'w_rec' must be [n_hid, n_hid, 1 or 2], got {w_rec.shape}")
    if w_out.ndim not in (2, 3) or w_out.shape[0] != w_rec.shape[0]:
        raise InputError(f"xylosim params: 'w_out' must be [n_hid, n_out], got {w_out.shape}")
    return w_rec.shape[0], w_rec.shape[2], w_out.shape[1]


def check_params(params: dict, n_in: int) -> dict:
    """All xylosim parameters, shape- and range-checked, as int64 arrays."""
    n_hid, n_syn, n_out = population_sizes(params)
    for key in ("w_in", "w_rec"):
        params = with_syn_axis(params, key, n_syn)
    if np.ndim(params.get("w_out")) == 3:  # [n_hid, n_out, 1] as Rockpool may give it
        params = {**params, "w_out": np.asarray(params["w_out"])[..., 0]}
    shapes = {
        "w_in": (n_in, n_hid, n_syn), "w_rec": (n_hid, n_hid, n_syn), "w_out": (n_hid, n_out),
        "threshold": (n_hid,), "threshold_out": (n_out,), "bias": (n_hid,), "bias_out": (n_out,),
        "weight_shift_in": (), "weight_shift_rec": (), "weight_shift_out": (),
        "dash_mem": (n_hid,), "dash_mem_out": (n_out,), "dash_syn": (n_hid, n_syn), "dash_syn_out": (n_out, 1),
    }
    return {key: checked(params, key, shape) for key, shape in shapes.items()}


def synapse_lists(v2, weights: np.ndarray) -> list[list]:
    """One list of XyloSynapse(target, syn_id, w) per presynaptic neuron; zeros skipped."""
    if weights.ndim == 2:
        weights = weights[..., None]
    return [[v2.XyloSynapse(int(post), int(syn), int(weights[pre, post, syn]))
             for post, syn in zip(*np.nonzero(weights[pre]))]
            for pre in range(weights.shape[0])]


@dataclass
class XyloNet:
    """An XyloLayer together with the XyloSynapse objects it points to."""

    layer: object
    synapses: list = field(default_factory=list)
    n_syn: int = 1


def build_net(p: dict) -> XyloNet:
    """Construct xylosim's XyloLayer from checked parameters (no aliases)."""
    v2 = xylosim_v2()
    syn_in, syn_rec, syn_out = (synapse_lists(v2, p[k]) for k in ("w_in", "w_rec", "w_out"))
    n_hid = p["threshold"].shape[0]
    layer = v2.XyloLayer(
        synapses_in=syn_in, synapses_rec=syn_rec, synapses_out=syn_out,
        aliases=[[] for _ in range(n_hid)],  # XyloLayer indexes one entry per neuron
        threshold=p["threshold"].tolist(), threshold_out=p["threshold_out"].tolist(),
        has_bias=True, bias=p["bias"].tolist(), bias_out=p["bias_out"].tolist(),
        weight_shift_inp=int(p["weight_shift_in"]), weight_shift_rec=int(p["weight_shift_rec"]),
        weight_shift_out=int(p["weight_shift_out"]),
        dash_mem=p["dash_mem"].tolist(), dash_mem_out=p["dash_mem_out"].tolist(),
        dash_syns=p["dash_syn"].tolist(), dash_syns_out=p["dash_syn_out"].tolist(),
        name="snnc")
    return XyloNet(layer, [syn_in, syn_rec, syn_out], p["dash_syn"].shape[1])


def state_trace(rec, steps: int, n: int) -> np.ndarray:
    """xylosim's per-neuron recordings [n][T] as int64 [T, n]."""
    return np.asarray(rec, dtype=np.int64).reshape(n, steps).T


def synaptic_trace(rec1, rec2, steps: int, n: int, n_syn: int) -> np.ndarray:
    """i_syn (and i_syn2 when n_syn == 2) stacked as [T, n, n_syn]."""
    traces = [state_trace(rec1, steps, n)]
    if n_syn == 2:
        traces.append(state_trace(rec2, steps, n))
    return np.stack(traces, axis=-1)


def recordings(net: XyloNet, steps: int) -> dict:
    """Spikes and states of one evolve() call, in snnc's layout."""
    layer = net.layer
    n_hid, n_out = len(layer.rec_v_mem), len(layer.rec_v_mem_out)
    return {
        "hidden": {
            "spikes": np.asarray(layer.rec_recurrent_spikes, np.int64).reshape(steps, n_hid),
            "v": state_trace(layer.rec_v_mem, steps, n_hid),
            "i_syn": synaptic_trace(layer.rec_i_syn, layer.rec_i_syn2, steps, n_hid, net.n_syn),
        },
        "readout": {
            "spikes": np.asarray(layer.rec_out_spikes, np.int64).reshape(steps, n_out),
            "v": state_trace(layer.rec_v_mem_out, steps, n_out),
            "i_syn": synaptic_trace(layer.rec_i_syn_out, None, steps, n_out, 1),
        },
    }


def evolve(net: XyloNet, spikes: np.ndarray) -> dict:
    """Run one sample [T, n_in] from the reset state; return its recordings."""
    net.layer.reset_all()
    net.layer.evolve(spikes.astype(np.uint8).tolist())
    return recordings(net, spikes.shape[0])


def stack(results: list[dict]) -> dict:
    """Per-sample result dicts -> one dict with a leading batch axis."""
    return {pop: {key: np.stack([r[pop][key] for r in results]) for key in results[0][pop]}
            for pop in results[0]}


def check_spikes(spikes) -> np.ndarray:
    """Spike counts [T, n_in] or [B, T, n_in], integers in [0, 255]."""
    spikes = np.asarray(spikes)
    if spikes.ndim not in (2, 3) or spikes.shape[-2] < 1:
        raise InputError(f"xylosim spikes must be [T, n_in] or [B, T, n_in], got {spikes.shape}")
    if not (np.issubdtype(spikes.dtype, np.integer) or spikes.dtype == np.bool_):
        raise InputError(f"xylosim spikes must be integer counts, got {spikes.dtype}")
    if not RANGES["input"].holds(spikes):
        raise InputError(f"xylosim spikes must lie in {RANGES['input']}, got [{spikes.min()}, {spikes.max()}]")
    return spikes


def run_xylosim(params: dict, spikes: np.ndarray) -> dict:
    """Evolve xylosim's XyloLayer on spike counts [T, n_in] (or [B, T, n_in]).

    Returns int64 `{"hidden": {"spikes" [T, n_hid], "v" [T, n_hid],
    "i_syn" [T, n_hid, n_syn]}, "readout": {"spikes", "v", "i_syn" [T, n_out, 1]}}`,
    the states after each step; a batch adds a leading B axis, each sample
    starting from `reset_all()`.
    """
    spikes = check_spikes(spikes)
    net = build_net(check_params(params, spikes.shape[-1]))
    if spikes.ndim == 2:
        return evolve(net, spikes)
    return stack([evolve(net, sample) for sample in spikes])


def run_xylosim_graph(graph, spikes) -> dict:
    """Run a `.snnc` Xylo graph (graph_from_xylo's shape, any node names) in xylosim.

    Returns `{hidden name: {"spikes", "v", "i_syn"}, readout name: {...}}` as
    int64 [B, T, ...] for spikes [B, T, n_in] ([T, ...] for [T, n_in]), the
    layout of `run_xylosim`. Design rules are not checked: xylosim runs any size.
    """
    _, hidden, readout = xylo_populations(graph)
    out = run_xylosim(params_from_graph(graph), spikes)
    return {hidden: out["hidden"], readout: out["readout"]}
