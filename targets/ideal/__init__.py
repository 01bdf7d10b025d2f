"""`ideal`: float32, no quantisation; the yardstick for quantisation loss.

Per step: a = sum_syn scale * (W @ s_pre[t - delay]) (float64 sum, float32 result);
i <- alpha * i + a; v <- beta * v + i + bias; n spikes (n = 1 when v > vth,
more when v > k vth and max_spikes > 1); v <- v - vth * n (soft) or 0 (zero).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir import Graph, Synapse
from snnc.compiler.ir.checks import float_vector, integer
from snnc.compiler.ir.nodes import Neuron, register_node
from snnc.errors import DesignRuleError, GraphError
from snnc.targets.base import EnergyConstant, NeuronKind, Range, StateVar, Target
from snnc.targets.kernel import keep_step, kernel, recurrent_sum
from snnc.targets.registry import register, register_kind
from snnc.targets.ideal import conv as _conv  # noqa: F401,E402  (registers ideal's Conv2d arithmetic)

RANGES = {
    "max_spikes": Range(1, 31, "Xylo's most spikes per neuron and step (xylosim 0.1.3 MAX_NUM_SPIKES), "
                               "the most any target emits"),
}
STATE = {"v": StateVar(np.float32, 32), "i_syn": StateVar(np.float32, 32, aliases=("u",))}


@register_node
@dataclass(eq=False)
class FloatLIF(Neuron):
    """Float32 current-based LIF of the `ideal` target (the yardstick for quantisation loss).

    i <- alpha * i + a_in                 (alpha = 0: no synaptic state, i = a_in)
    v <- beta * v + i + bias
    n = #{k in 1..max_spikes : v > k * vth}   (max_spikes = 1: s = v > vth)
    v <- v - vth * n (soft) or 0 where n > 0 (zero reset).
    beta = 0, alpha = 0, zero reset is the memoryless binary threshold unit;
    vth = NON_SPIKING makes a non-spiking readout (a leaky integrator).
    """

    beta: np.ndarray = 1.0
    vth: np.ndarray = 1.0
    bias: np.ndarray = 0.0
    reset: str = "soft"
    alpha: np.ndarray = 0.0      # synaptic current decay per step
    max_spikes: int = 1          # spikes per step (Xylo: 31)
    state_vars = tuple(STATE)

    def check(self):
        self.size = int(self.size)
        self.beta = float_vector("beta", self.beta, self.size)
        self.vth = float_vector("vth", self.vth, self.size)
        self.bias = float_vector("bias", self.bias, self.size)
        self.alpha = float_vector("alpha", self.alpha, self.size)
        if self.reset not in ("soft", "zero"):
            raise GraphError(f"parameter 'reset' must be 'soft' or 'zero', got '{self.reset}'")
        self.max_spikes = integer("max_spikes", self.max_spikes, *RANGES["max_spikes"].bounds)


# --- float semantics (numba-compatible: used by both simulators) -------------

@kernel(error_model="numpy")
def spike_count(v, vth, max_spikes):
    """#{k in 1..max_spikes : v > k vth}, computed as the training neuron does:
    0 unless v > vth, else 1 + clip(ceil(v / vth) - 2, 0, max_spikes - 1) (float32).
    vth = 0 (v > 0): v / 0 is inf and the count max_spikes, as the ONNX lowering's Div and the
    training neuron's torch division give (numpy's error model: no ZeroDivisionError)."""
    if not v > vth:
        return 0
    if max_spikes == 1:
        return 1
    extra = np.ceil(np.float32(v / vth)) - 2
    return 1 + int(min(max(extra, 0), max_spikes - 1))


@kernel
def float_lif_step(v, i_syn, a_in, beta, alpha, vth, bias, soft_reset, max_spikes):
    """One float32 CUBA LIF step in place on v, i_syn; returns (spike counts, 0)."""
    i_syn[:] = (alpha * i_syn + a_in.astype(np.float32)).astype(np.float32)
    v[:] = (beta * v + i_syn + bias).astype(np.float32)
    spikes = np.zeros(v.shape[0], np.int64)
    for j in range(v.shape[0]):
        n = spike_count(v[j], vth[j], max_spikes)
        spikes[j] = n
        if n > 0:
            v[j] = np.float32(v[j] - np.float32(vth[j] * np.float32(n))) if soft_reset else np.float32(0.0)
    return spikes, 0


@kernel
def float_lif_neuron(v, i_syn, a, beta, alpha, vth, bias, soft_reset, max_spikes):
    """One neuron of `float_lif_step`, the same float32 operations in the same order: (v, i_syn, n)."""
    i_syn = np.float32(np.float32(alpha * i_syn) + np.float32(a))
    v = np.float32(np.float32(np.float32(beta * v) + i_syn) + bias)
    n = spike_count(v, vth, max_spikes)
    if n > 0:
        v = np.float32(v - np.float32(vth * np.float32(n))) if soft_reset else np.float32(0.0)
    return v, i_syn, n


@kernel
def float_lif_population(a_in, in_scale, beta, alpha, vth, bias, soft_reset, max_spikes, rec_indptr, rec_post,
                         rec_w, rec_scale, rec_delay, keep_v, keep_i):
    """Run a FloatLIF population over [B, T]; a_in is float64 delayed synaptic input times
    `in_scale` (1, or one synapse's 2^weight_exp applied here: no second array). One loop per
    neuron and step, no array per step (float_lif_step's arithmetic, neuron by neuron)."""
    B, T, n = a_in.shape
    spikes = np.zeros((B, T, n), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.float32)
    i_tr = np.zeros((B, T, n) if keep_i else (0, 0, 0), np.float32)
    n_events = 0
    acc = np.zeros(n, np.float64)
    for b in range(B):
        v, i_syn = np.zeros(n, np.float32), np.zeros(n, np.float32)
        for t in range(T):
            recurrent = rec_delay > 0 and t >= rec_delay
            if recurrent:
                acc[:] = 0.0
                n_events += recurrent_sum(acc, spikes[b, t - rec_delay], rec_indptr, rec_post, rec_w)
            for j in range(n):
                a = a_in[b, t, j] * in_scale
                a = a + acc[j] * rec_scale if recurrent else a
                v[j], i_syn[j], spikes[b, t, j] = float_lif_neuron(v[j], i_syn[j], a, beta[j], alpha[j], vth[j],
                                                                   bias[j], soft_reset, max_spikes)
            keep_step(v_tr, b, t, v)
            keep_step(i_tr, b, t, i_syn)
    return spikes, v_tr, i_tr, n_events


# --- the fused whole-graph loop's two steps (runtime/fused_kernel.py) ----------

@kernel(inline=True)
def float_lif_join(a, lo, n, sums, base, exp, scale, first):
    """a[lo + i] = sum x scale (the first synapse) or a[lo + i] + sum x scale: a synapse's float64
    weight sum times 2^weight_exp (`scale`), joined as `float_lif_population` joins them; the sums
    are zeroed (`exp` unused)."""
    lo, base = np.uint64(lo), np.uint64(base)
    for i in range(np.uint64(n)):
        a[lo + i] = sums[base + i] * scale if first else a[lo + i] + sums[base + i] * scale
        sums[base + i] = 0


@kernel(inline=True)
def float_lif_update(a, state, params, flags, p, lo, n, fired, over):
    """`float_lif_neuron` on neurons lo:lo+n: state [2, neurons] = (v, i_syn), params [4, neurons] =
    (beta, alpha, vth, bias), flags[p] = (soft reset, max_spikes) (`fused_params`); spike counts into
    fired (int32 [neurons]); `over` untouched (no overflow in float). The common population (one
    spike a step at most, zero reset) runs a loop with those two as constants: the same neuron,
    whose branches then compile to selects, 8 lanes wide."""
    soft, max_spikes = flags[p, 0] != 0, flags[p, 1]
    if max_spikes == 1 and not soft:
        _float_lif_loop(a, state, params, lo, n, fired, False, 1)
    else:
        _float_lif_loop(a, state, params, lo, n, fired, soft, max_spikes)


@kernel(inline=True)
def _float_lif_loop(a, state, params, lo, n, fired, soft_reset, max_spikes):
    lo = np.uint64(lo)
    for i in range(np.uint64(n)):
        k = lo + i
        v, i_syn, s = float_lif_neuron(state[0, k], state[1, k], a[k], params[0, k], params[1, k], params[2, k],
                                       params[3, k], soft_reset, max_spikes)
        state[0, k], state[1, k], fired[k] = v, i_syn, s


def fused_params(node: FloatLIF) -> tuple[np.ndarray, np.ndarray]:
    """(params [4, n] float32: beta, alpha, vth, bias; flags [2]: soft reset, max_spikes) for `float_lif_update`."""
    params = np.stack([node.beta, node.alpha, node.vth, node.bias])
    return np.ascontiguousarray(params, np.float32), np.array([node.reset == "soft", node.max_spikes], np.int64)


# --- FloatLIF in the simulators ------------------------------------------------

def add_synaptic_input(a, weighted_sum, syn) -> None:
    """How a synapse's float64 weight sum joins the input a (in place): scaled by 2^weight_exp, added."""
    a += weighted_sum * 2.0 ** syn.weight_exp


def run_events(node: FloatLIF, pop):
    """Event engine: float64 sums per synapse into a float32 LIF, the recurrent synapse in the loop."""
    a_in, single = pop.joined_input(np.float64, add_synaptic_input)
    rec = pop.recurrent()
    spikes, v_tr, i_tr, n_rec = float_lif_population(   # one synapse: its scale is applied in the loop
        a_in, 1.0 if single is None else 2.0 ** single.weight_exp, node.beta, node.alpha, node.vth, node.bias, node.reset == "soft", node.max_spikes,
        rec.fan_out.indptr, rec.fan_out.post, rec.fan_out.weight.astype(np.float64), 2.0 ** rec.weight_exp,
        rec.delay, "v" in pop.record, "i_syn" in pop.record)
    return pop.result(spikes, {"v": v_tr, "i_syn": i_tr}, 0, n_rec)


def step(node: FloatLIF, state, arriving):
    """Dense reference: one step from the spikes arriving now."""
    a = np.zeros(node.size, np.float64)
    for syn, s_pre in arriving:
        add_synaptic_input(a, syn.weights.astype(np.float64) @ s_pre, syn)
    return float_lif_step(state["v"], state["i_syn"], a, node.beta, node.alpha, node.vth, node.bias,
                          node.reset == "soft", node.max_spikes)


FLOAT_LIF = register_kind(NeuronKind(FloatLIF, STATE, run_events, step, onnx="snnc.targets.ideal.onnx_kind:LOWERING"))


# --- design rules and spec -------------------------------------------------------

def rule_finite(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if not np.all(np.isfinite(syn.weights)):
            raise DesignRuleError("finite-weights", name, "weights must be finite")


_EST = "no hardware: ideal target reports synaptic ops only; per-op energy set to Loihi's 23.6 pJ for comparison"
IDEAL = register(Target(
    name="ideal",
    description="float32 reference, no quantisation (the yardstick for quantisation loss)",
    neuron_kinds=(FLOAT_LIF.name,),
    widths={"weight": 32, **FLOAT_LIF.widths(), **{p: r.bits for p, r in RANGES.items()}},
    overflow="none",
    limits={},
    energy={"synaptic_op": EnergyConstant(23.6e-12, _EST, estimate=True),
            "neuron_update": EnergyConstant(0.0, _EST, estimate=True),
            "spike_extra": EnergyConstant(0.0, _EST, estimate=True)},
    ranges=RANGES,
    rules=(rule_finite,),
    reference_executor="none (float yardstick)",
    graphs=("spiking", "dense"),
    integer=False,
    flow="snnc.targets.ideal.flow:flow",
    # onnxruntime on the ONNX export; snnTorch's import_from_nir on the NIR export (v within a stated tolerance)
    executors={"onnx": "snnc.compiler.export:run_onnx", "snntorch": "snnc.compiler.export.nir:run_in_snntorch"},
    round_trips={"nir": "snnc.compiler.export.nir:run_round_trip"},   # the NIR file read back into snnc
))
