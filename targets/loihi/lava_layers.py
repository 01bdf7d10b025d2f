"""Loihi graphs in Lava's own terms: Dense weights and sign modes, and chains of
Dense -> LIF layers with Lava's parameter names (`graph_from_lava_layers`, and back:
`layers_from_graph`, what the Lava executors and the Lava program are fed)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir import Graph, Input, Output, Synapse
from snnc.compiler.ir.checks import integer
from snnc.compiler.ir.nodes import register_node
from snnc.errors import GraphError
from snnc.targets.loihi.lif import DENSE_DELAY, LIF_PARAMS, LoihiLIF, wrap
from snnc.targets.registry import get
# Lava's SignMode values (lava.utils.weightutils): how Dense reads its weights.
SIGN_MIXED, SIGN_EXCITATORY, SIGN_INHIBITORY = 1, 2, 3
SIGN_MODES = {SIGN_MIXED: "mixed", SIGN_EXCITATORY: "excitatory", SIGN_INHIBITORY: "inhibitory"}


def determine_sign_mode(weights) -> int:
    """Lava's determine_sign_mode: excitatory if all >= 0, else inhibitory if all <= 0, else mixed."""
    w = np.asarray(weights)
    if w.min(initial=0) >= 0:
        return SIGN_EXCITATORY
    return SIGN_INHIBITORY if w.max(initial=0) <= 0 else SIGN_MIXED


def effective_weights(weights, sign_mode: int | None = None) -> np.ndarray:
    """Lava's Dense weight preprocessing (clip_weights then truncate_weights, 8 bits).

    int32 cast; the sign mode is `sign_mode` (Dense's proc param) or else
    Lava's guess from the weights. Mixed: clip to [-256, 255], drop one LSB
    (even values); excitatory: clip to [0, 255]; inhibitory: negate (in
    int32), clip to [0, 255], negate back, so [-255, 0].

    Not idempotent, because Lava is not: [[-256, 1]] (mixed) -> [[-256, 0]],
    which Lava would guess is inhibitory and clip to [[-255, 0]]. A graph
    stores what Lava uses; `lava_sign_mode` gives the mode that keeps it
    unchanged, and `effective_weights(w, lava_sign_mode(w)) == w` for every
    output `w` of this function.
    """
    w = np.asarray(weights)
    if w.dtype.kind == "f" and not np.all(w == np.trunc(w)):
        raise GraphError("Loihi weights must be integers (got fractional values)")
    w = wrap(w.astype(np.int64), 32)
    mode = determine_sign_mode(w) if sign_mode is None else int(sign_mode)
    if mode not in SIGN_MODES:
        raise GraphError(f"sign_mode must be one of {SIGN_MODES} (Lava's SignMode values), got {sign_mode}")
    sign = -1 if mode == SIGN_INHIBITORY else 1
    shift = 1 if mode == SIGN_MIXED else 0
    w = np.clip(wrap(sign * w, 32), -256 if shift else 0, 255)
    return sign * ((w >> shift) << shift)


def lava_sign_mode(weights, where: str = "weights") -> int:
    """The sign mode under which Lava's Dense uses these weights unchanged:
    Lava's own guess where that works, else mixed (e.g. [[-256, 0]], the
    effective form of the mixed [[-256, 1]]). GraphError when none does."""
    w = np.asarray(weights)
    for mode in (determine_sign_mode(w), SIGN_MIXED):
        if w.dtype.kind in "iub" and np.array_equal(effective_weights(w, mode), w):
            return mode
    raise GraphError(f"{where}: not 8-bit Loihi weights that Lava's Dense keeps unchanged "
                     "(mixed signs or -256: even values in [-256, 254]; else |w| <= 255, one sign)")


# --- a weight matrix deployed as two Dense processes ---------------------------

SPLIT_SHIFT_MAX = 7    # the high Dense's exponent over the low one's: at most 7 keeps W_lo within [0, 255]


@register_node
@dataclass(eq=False)
class SplitDense(Synapse):
    """A Loihi synapse deployed as two Lava Dense processes from the same source into the
    same LIF: `weights` W = W_hi 2^shift + W_lo, integers in [-2^(shift + 8), 2^(shift + 8) - 1],
    W_hi = 2 floor(W / 2^(shift + 1)) (even, in [-256, 254]: Lava's mixed sign mode keeps it),
    W_lo = W - W_hi 2^shift in [0, 2^(shift + 1) - 1] (within [0, 255]: excitatory);
    `weight_exp` is the low Dense's exponent, the high Dense's weight_exp + shift, in [0, 7].

    Lava's LIF adds every a_out connected to its a_in (PyInPortVectorDense.recv sums its
    channels); each Dense sends wrap32(its W s shifted by its exponent). With the high exponent
    >= 0, (W_hi s 2^shift + W_lo s) shifted by weight_exp is exactly W_hi s << (weight_exp +
    shift) plus W_lo s shifted by weight_exp (a right shift's floor takes nothing from the
    high part's multiple of 2^-weight_exp): the two a_out sum, modulo 2^32, to what one Dense
    of W at `weight_exp` would send, which is how the simulators run it.
    """

    shift: int = SPLIT_SHIFT_MAX   # the high Dense's exponent over the low one's, 1..7

    def check(self):
        super().check()
        self.shift = integer("shift", self.shift, 1, SPLIT_SHIFT_MAX)
        lo, hi = -2 ** (self.shift + 8), 2 ** (self.shift + 8) - 1
        if self.weights.dtype != np.int64 or self.weights.size and not lo <= self.weights.min() <= self.weights.max() <= hi:
            raise GraphError(f"SplitDense weights (shift {self.shift}) must be integers in [{lo}, {hi}]")
        if not 0 <= self.weight_exp + self.shift <= 7:
            raise GraphError(f"SplitDense weight_exp + shift (the high Dense's exponent) must lie in [0, 7], got "
                             f"{self.weight_exp} + {self.shift}")

    def fan_out_counts(self) -> np.ndarray:
        """Synaptic events per presynaptic spike on the chip: both Dense act, so the nonzeros of
        W_hi and of W_lo (not of W once)."""
        return sum(np.count_nonzero(w, axis=0) for w, _ in split_parts(self))


def split_parts(node: SplitDense) -> list[tuple[np.ndarray, int]]:
    """[(W_hi, weight_exp + shift), (W_lo, weight_exp)]: the two Dense processes."""
    w = np.asarray(node.weights, np.int64)
    hi = 2 * (w >> (node.shift + 1))
    return [(hi, node.weight_exp + node.shift), (w - (hi << node.shift), node.weight_exp)]


# --- graph construction from Lava's parameter names -------------------------

def graph_from_lava_layers(layers: list[dict], n_inputs: int) -> Graph:
    """Chain input -> dense0 -> lif0 -> dense1 -> lif1 ... from Lava Dense/LIF params.

    Each layer dict uses Lava's names: `weights` (out x in), `weight_exp`,
    `du`, `dv`, `vth`, `bias_mant`, `bias_exp`. Weights are clipped and
    truncated exactly as Lava's PyDenseModelBitAcc does on its first step.
    Optional `rec_weights` (out x out) and `rec_weight_exp` add a recurrent
    Dense `rec{k}` from `lif{k}` to itself (delivered one step later).
    Optional `sign_mode` / `rec_sign_mode` (Lava's SignMode values, 1 mixed,
    2 excitatory, 3 inhibitory) fix the sign mode as Dense's own parameter
    does; without one, Lava's guess from the weights applies.
    du, dv and vth may be per neuron here (Lava's LIF takes single values;
    `targets.loihi.lava_exec.run_lava_graph` splits such a population).
    """
    graph = Graph(target="loihi", metadata={"source": "lava-layers"})
    prev = graph.add("input", Input(integer("n_inputs", n_inputs, 1, 1 << 22)))
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise GraphError(f"layers must be a list of dicts (one per Dense + LIF layer), got {type(layers).__name__}")
    for k, layer in enumerate(layers):
        try:
            prev = _add_lava_layer(graph, k, layer, prev)
        except GraphError as exc:
            raise GraphError(str(exc) if str(exc).startswith(f"layer {k}") else f"layer {k}: {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # ragged lists, odd objects
            raise GraphError(f"layer {k}: parameters must be integer arrays "
                             f"({str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})") from None
    graph.add("output", Output(graph.nodes[prev].size), [prev])
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    get("loihi").check(graph)   # the package's Target record (registered on import)
    return graph


def _add_lava_layer(graph: Graph, k: int, layer: dict, prev: str) -> str:
    """dense{k} (+ rec{k}) and lif{k} of one Lava layer dict; returns lif{k}."""
    if not isinstance(layer, dict):
        raise GraphError(f"layer {k}: expected a dict of Lava parameters, got {type(layer).__name__}")
    _check_layer_keys(k, layer)
    if "weights" not in layer:
        raise GraphError(f"layer {k}: 'weights' is missing")
    weights = _lava_weights("weights", layer["weights"])
    syn = Synapse(effective_weights(weights, _sign_mode("sign_mode", layer.get("sign_mode"))),
                  weight_exp=integer("weight_exp", layer.get("weight_exp", 0), -(2**31), 2**31 - 1),
                  delay=DENSE_DELAY)
    dense = graph.add(f"dense{k}", syn, [prev])
    params = {name: layer.get(name, default) for name, default in
              (("du", 0), ("dv", 0), ("vth", 10), ("bias_mant", 0), ("bias_exp", 0))}
    for name, value in params.items():
        if value is None or isinstance(value, (str, bytes)):
            raise GraphError(f"parameter '{name}' must be an integer or integer array, got {value!r}")
    lif = LoihiLIF(weights.shape[0], **params)
    prev = graph.add(f"lif{k}", lif, [dense])
    if "rec_weights" in layer:
        rec = Synapse(effective_weights(_lava_weights("rec_weights", layer["rec_weights"]),
                                        _sign_mode("rec_sign_mode", layer.get("rec_sign_mode"))),
                      weight_exp=integer("rec_weight_exp", layer.get("rec_weight_exp", 0),
                                         -(2**31), 2**31 - 1),
                      delay=DENSE_DELAY)
        graph.add(f"rec{k}", rec, [prev])
        graph.connect(f"rec{k}", prev)
    return prev


def _lava_weights(name: str, value) -> np.ndarray:
    w = np.asarray(value)
    if w.dtype.kind not in "iubf":
        raise GraphError(f"'{name}' must be an integer array, got dtype {w.dtype}")
    if w.ndim != 2:
        raise GraphError(f"'{name}' must be 2-D (out x in), got shape {w.shape}")
    if w.dtype.kind == "f" and not np.all(np.isfinite(w)):
        raise GraphError(f"'{name}' must be finite integers")
    return w


def _sign_mode(name: str, value):
    return None if value is None else integer(name, value, -(2**31), 2**31 - 1)


_LAYER_KEYS = {"weights", "weight_exp", "sign_mode", "du", "dv", "vth", "bias_mant", "bias_exp",
               "rec_weights", "rec_weight_exp", "rec_sign_mode"}


def _check_layer_keys(k: int, layer: dict) -> None:
    unknown = set(layer) - _LAYER_KEYS
    if unknown:
        raise GraphError(f"layer {k}: unknown parameter(s) {sorted(unknown)} "
                         f"(expected Lava's names {sorted(_LAYER_KEYS)})")
    if "weights" not in layer:
        raise GraphError(f"layer {k}: missing 'weights' (out x in)")


def layers_from_graph(graph: Graph) -> tuple[list[dict], int, list[tuple[str, str, str | None]]]:
    """Inverse of `graph_from_lava_layers` for any chain graph.

    The chain is Input -> Synapse -> LoihiLIF [-> Synapse -> LoihiLIF ...],
    each LIF with at most one recurrent Synapse onto itself and any number of
    Output markers; node names are free. Returns (layers, n_inputs, names):
    layer dicts with Lava's names (`weights`, `weight_exp`, `sign_mode`,
    `du`, `dv`, `vth`, `bias_mant`, `bias_exp`, and `rec_weights`,
    `rec_weight_exp`, `rec_sign_mode` where there is recurrence; a LIF
    parameter is an int when all neurons share it, else an int64 [n] array),
    and per layer (synapse name, LIF name, recurrent synapse name or None).
    `sign_mode` is the one under which Lava keeps the graph's weights as they
    are (`lava_sign_mode`). Anything else raises GraphError naming the node.
    """
    if graph.target != "loihi":
        raise GraphError(f"graph is compiled for '{graph.target}', not 'loihi'")
    inputs = list(graph.inputs)
    if len(inputs) != 1:
        raise GraphError(f"a Lava chain has one Input node, this graph has {len(inputs)}: {inputs}")
    seen, layers, names = {inputs[0]}, [], []
    prev, syn = inputs[0], _forward_synapse(graph, inputs[0], seen)
    while syn is not None:
        lif = _chain_lif(graph, prev, syn)
        rec = _recurrent_synapse(graph, syn, lif)
        seen.update(n for n in (syn, lif, rec) if n is not None)
        layers.append(_layer_dict(graph, syn, lif, rec))
        names.append((syn, lif, rec))
        prev, syn = lif, _forward_synapse(graph, lif, seen)
    if not layers:
        raise GraphError(f"node '{inputs[0]}': no Synapse -> LoihiLIF layer follows the input")
    stray = [n for n in graph.nodes if n not in seen]
    if stray:
        raise GraphError(f"node '{stray[0]}' is not on the Lava chain {' -> '.join(n for _, n, _ in names)}")
    return layers, graph.nodes[inputs[0]].size, names


def _forward_synapse(graph: Graph, pop: str, seen: set) -> str | None:
    """The one Synapse leading on from `pop` (None at the end); Output markers are noted as seen."""
    forward = []
    for succ in graph.successors(pop):
        node = graph.nodes[succ]
        if isinstance(node, Output) and graph.predecessors(succ) == [pop]:
            seen.add(succ)
        elif not isinstance(node, Synapse):
            raise GraphError(f"node '{succ}': a {type(node).__name__} after '{pop}' is not part of a Lava chain")
        elif graph.successors(succ) != [pop]:  # a self-loop is the LIF's recurrent Dense
            forward.append(succ)
    if len(forward) > 1:
        raise GraphError(f"node '{pop}' feeds {len(forward)} synapses ({', '.join(forward)}); a Lava chain feeds one")
    return forward[0] if forward else None


def _chain_lif(graph: Graph, prev: str, syn: str) -> str:
    """The LoihiLIF that `syn` (fed by `prev` alone) drives, as a Lava Dense."""
    node = graph.nodes[syn]
    if graph.predecessors(syn) != [prev]:
        raise GraphError(f"node '{syn}': a Lava Dense has one source, got {graph.predecessors(syn)}")
    if node.delay != DENSE_DELAY or node.port != 0:
        raise GraphError(f"node '{syn}': delay {node.delay}, port {node.port}; Lava's Dense is delay 1, port 0")
    succ = graph.successors(syn)
    if len(succ) != 1 or not isinstance(graph.nodes[succ[0]], LoihiLIF):
        raise GraphError(f"node '{syn}' must feed exactly one LoihiLIF, feeds {succ}")
    return succ[0]


def _recurrent_synapse(graph: Graph, syn: str, lif: str) -> str | None:
    """The LIF's self-recurrent Synapse, if any; any other input is not a chain."""
    others = [p for p in graph.predecessors(lif) if p != syn]
    if len(others) > 1 or graph.predecessors(lif).count(syn) != 1:
        raise GraphError(f"node '{lif}': inputs {graph.predecessors(lif)}; a Lava chain LIF has one Dense "
                         "and at most one recurrent Dense")
    if not others:
        return None
    rec = others[0]
    if not isinstance(graph.nodes[rec], Synapse) or graph.predecessors(rec) != [lif] \
            or graph.successors(rec) != [lif]:
        raise GraphError(f"node '{rec}' feeds '{lif}' but is not a Synapse from '{lif}' to itself")
    _chain_lif(graph, lif, rec)  # same Dense checks (delay, port)
    return rec


def _layer_dict(graph: Graph, syn: str, lif: str, rec: str | None) -> dict:
    """Lava-named parameters of one Dense -> LIF (-> recurrent Dense) layer."""
    dense, pop = graph.nodes[syn], graph.nodes[lif]
    layer = {"weights": dense.weights.copy(), "weight_exp": dense.weight_exp,
             "sign_mode": lava_sign_mode(dense.weights, f"node '{syn}'")}
    for key in LIF_PARAMS:
        val = np.asarray(getattr(pop, key), np.int64)
        layer[key] = int(val[0]) if np.all(val == val[0]) else val.copy()
    if rec is not None:
        r = graph.nodes[rec]
        layer.update(rec_weights=r.weights.copy(), rec_weight_exp=r.weight_exp,
                     rec_sign_mode=lava_sign_mode(r.weights, f"node '{rec}'"))
    return layer
