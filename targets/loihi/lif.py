"""`loihi`: Intel Loihi fixed point, bit-accurate with Lava 0.10.0.

Reference: lava-nc 0.10.0 `PyLifModelBitAcc` (lava/proc/lif/models.py) and
`PyDenseModelBitAcc` (lava/proc/dense/models.py) under
`Loihi2SimCfg(select_tag="fixed_pt")`. The arithmetic below is the one
definition of these semantics: the event-driven simulator (compiled with
numba) and the dense reference stepper both call these functions.

All states are int64 arrays holding the values Lava keeps in int32; every
place where Lava's numpy dtypes wrap is an explicit `wrap(x, 32)`.

Per step, per LIF neuron (Lava's order):
    u <- wrap24*(trunc0(u * (4096 - (du + 1)) / 4096) + wrap32(a_in << 6))
    v <- clip(trunc0(v * (4096 - dv) / 4096) + u + bias, -(2^23 - 1), 2^23 - 1)
    s  = v > vth << 6;  v <- 0 where s   (u keeps its value)
`wrap24*` is Lava's literal code: values above 2^23 lose 2^24; then values
at or below -2^23 are replaced by the *unwrapped* value + 2^24.
Dense: a = sum of (clipped, LSB-truncated) weights of the spiking inputs,
`<< weight_exp` (or `>>` when negative), sent through an int32 port and
delivered one step later.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir.checks import int_vector

from snnc.compiler.ir.nodes import Neuron, register_node
from snnc.targets.base import NeuronKind, Range, StateVar
from snnc.targets.kernel import keep_step, kernel, recurrent_sum
from snnc.targets.registry import register_kind

MAX_UV = 2**23          # u, v are 24-bit
I32 = np.int32          # Lava's int32 states and ports
DECAY_UNITY = 4096      # 12-bit decay constants
ACT_SHIFT = 6           # a_in and vth are MSB-aligned by 6 bits
DENSE_DELAY = 1         # Lava's Dense buffers a_out for one step
NEURONS_PER_CORE = 1024  # Loihi 1 compartments per core (Davies et al. 2018)
CORES = 128              # neuromorphic cores per chip (Davies et al. 2018)

# --- parameter ranges: the one table that LoihiLIF's checks, the design rules,
# the Lava executor's input checks and `snnc inspect` / `snnc targets` read ----

_LIF = "Lava 0.10.0 PyLifModelBitAcc (lava/proc/lif/models.py)"
_WEIGHT_EXP_SOURCE = ("Loihi's weight exponent is a signed 4-bit field (-8..7) in Intel's NxSDK docs (not "
                      "verifiable offline here); Lava 0.10.0 itself accepts any integer and shifts by it")
RANGES = {
    "du": Range(0, 4095, f"{_LIF}: du is a 12-bit unsigned decay (uint16, precision=12)"),
    "dv": Range(0, 4095, f"{_LIF}: dv is a 12-bit unsigned decay (uint16, precision=12)"),
    "vth": Range(0, 2**17 - 1, f"{_LIF}: vth is a 17-bit unsigned mantissa (precision=17), scaled << 6"),
    "bias_mant": Range(-(2**12), 2**12 - 1, f"{_LIF}: bias_mant is a 13-bit signed mantissa (precision=13)"),
    "bias_exp": Range(0, 7, f"{_LIF}: bias_exp is a 3-bit exponent (precision=3)"),
    "weight_exp": Range(-8, 7, _WEIGHT_EXP_SOURCE),
    "sign_mode": Range(1, 3, "Lava 0.10.0 SignMode (lava/utils/weightutils.py): 1 mixed, 2 excitatory, "
                             "3 inhibitory"),
    "input": Range(0, 1, "Lava 0.10.0 PyDenseModelBitAcc: s_in is a binary port (bool, precision=1)"),
}
LIF_PARAMS = ("du", "dv", "vth", "bias_mant", "bias_exp")
WEIGHT_EXP_RANGE = RANGES["weight_exp"].bounds
STATE = {"u": StateVar(np.int64, 24, aliases=("i_syn",)), "v": StateVar(np.int64, 24)}


@register_node
@dataclass(eq=False)
class LoihiLIF(Neuron):
    """Loihi CUBA LIF, bit-accurate with Lava's PyLifModelBitAcc.

    u <- wrap24(trunc0(u * (4096 - (du + 1)) / 4096) + (a_in << 6))
    v <- clip(trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), +-(2^23 - 1))
    s = v > (vth << 6); v <- 0 where s.
    """

    du: np.ndarray = 0         # 12-bit current decay, 0..4095
    dv: np.ndarray = 0         # 12-bit voltage decay, 0..4095
    vth: np.ndarray = 0        # 17-bit threshold mantissa, 0..131071 (scaled << 6)
    bias_mant: np.ndarray = 0  # 13-bit signed bias mantissa
    bias_exp: np.ndarray = 0   # 3-bit bias exponent, 0..7
    state_vars = tuple(STATE)

    def check(self):
        self.size = int(self.size)
        for name in LIF_PARAMS:
            setattr(self, name, int_vector(name, getattr(self, name), self.size, *RANGES[name].bounds))


# --- integer semantics (numba-compatible: used by both simulators) -----------

@kernel
def wrap(x, bits):
    """Two's-complement wrap of int64 values to `bits` bits."""
    half = np.int64(1) << np.int64(bits - 1)
    return ((x + half) & (2 * half - 1)) - half


@kernel
def decay12(x, d):
    """trunc0(x * (4096 - d) / 4096): Lava's decay, rounding toward zero (sign(p) * (|p| >> 12),
    computed as (p + 4095 where p < 0) >> 12: shifts and a mask, no multiply by the sign)."""
    p = x * (DECAY_UNITY - d)
    return (p + ((p >> 63) & (DECAY_UNITY - 1))) >> 12


@kernel
def dense_output(acc, weight_exp):
    """Dense a_out from the int64 weight sum: shift by weight_exp, int32 port."""
    if weight_exp > 0:
        return wrap(acc << weight_exp, 32)
    return wrap(acc >> -weight_exp, 32)


@kernel(inline=True)
def decay12_32(x, d):
    """`decay12` for an int32 x, in int32 lanes (exact: the same value on every int32 x, 0 <= d <= 4096):
    x = hi 2^12 + lo (0 <= lo < 2^12), so x m / 4096 = hi m + lo m / 4096 with m = 4096 - d; hi m
    and lo m fit in 32 bits; rounding toward zero adds 1 where x < 0 and lo m is not a multiple of
    4096. Each step is cast to int32 so that the compiler keeps 8 lanes per 256-bit vector."""
    m = I32(DECAY_UNITY - d)
    p = I32(I32(x & (DECAY_UNITY - 1)) * m)
    return I32(I32(I32(x >> 12) * m) + I32(p >> 12) + I32((x < 0) & ((p & (DECAY_UNITY - 1)) != 0)))


@kernel
def lif_neuron(u, v, a_in, du, dv, bias, vth_scaled):
    """One PyLifModelBitAcc step of one neuron: (u, v, spike, n_overflow), in int32 (Lava keeps u, v,
    a_in and bias in int32: every wrap(., 32) of the module docstring is int32's own; 2^23 and
    2^24 stay within it). Inputs are cast to int32 first: int64 callers pass int32 values."""
    u, v, a_in, bias, vth_scaled = I32(u), I32(v), I32(a_in), I32(bias), I32(vth_scaled)
    c = I32(decay12_32(u, du + 1) + I32(a_in << ACT_SHIFT))
    w = I32(c - 2 * MAX_UV) if c > MAX_UV else c
    w = I32(c + 2 * MAX_UV) if w <= -MAX_UV else w
    upd = I32(I32(decay12_32(v, dv) + w) + bias)
    clipped = min(max(upd, I32(-MAX_UV + 1)), I32(MAX_UV - 1))
    spike = clipped > vth_scaled
    return w, I32(0) if spike else clipped, spike, I32((c != w) + (upd != clipped))


@kernel
def lif_step(u, v, a_in, du, dv, bias, vth_scaled):
    """One step of a population, in place on u, v; returns (spikes, n_overflow)."""
    spikes = np.zeros(u.shape[0], np.bool_)
    n_overflow = 0
    for i in range(u.shape[0]):
        u[i], v[i], spikes[i], n_o = lif_neuron(u[i], v[i], a_in[i], du[i], dv[i], bias[i], vth_scaled[i])
        n_overflow += n_o
    return spikes, n_overflow


@kernel
def dense_input(a, acc, weight_exp):
    """How a Dense joins the LIF input: its int32 a_out (weight sum shifted), added in int32."""
    return wrap(a + dense_output(acc, weight_exp), 32)


def effective_bias(bias_mant, bias_exp):
    """bias_mant << bias_exp in int32, as Lava's scale_bias."""
    return wrap(np.asarray(bias_mant, np.int64) << np.asarray(bias_exp, np.int64), 32)


@kernel
def lif_population(a_in, in_exp, raw, du, dv, bias, vth_scaled, rec_indptr, rec_post, rec_w, rec_exp, rec_delay,
                   keep_u, keep_v):
    """Run a LoihiLIF population over [B, T]; a_in holds the delayed Dense output, or (raw) one
    Dense's weight sums, whose output `dense_output(sum, in_exp)` is taken here (no second
    array). One loop per neuron and step (`lif_neuron`), no array per step."""
    B, T, n = a_in.shape
    spikes = np.zeros((B, T, n), np.int64)
    u_tr = np.zeros((B, T, n) if keep_u else (0, 0, 0), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.int64)
    n_over, n_events = 0, 0
    acc = np.zeros(n, np.int64)
    for b in range(B):
        u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for t in range(T):
            recurrent = rec_delay > 0 and t >= rec_delay
            if recurrent:
                acc[:] = 0
                n_events += recurrent_sum(acc, spikes[b, t - rec_delay], rec_indptr, rec_post, rec_w)
            for i in range(n):
                a = dense_output(np.int64(a_in[b, t, i]), in_exp) if raw else a_in[b, t, i]
                a = dense_input(a, acc[i], rec_exp) if recurrent else a
                u[i], v[i], s, n_o = lif_neuron(u[i], v[i], a, du[i], dv[i], bias[i], vth_scaled[i])
                spikes[b, t, i] = s
                n_over += n_o
            keep_step(u_tr, b, t, u)
            keep_step(v_tr, b, t, v)
    return spikes, u_tr, v_tr, n_over, n_events


@kernel
def add_dense_output(a_in, acc, weight_exp):
    """a_in = dense_input(a_in, acc, weight_exp) in place, element by element (no temporaries)."""
    a, w = a_in.reshape(-1), acc.reshape(-1)
    for i in range(a.shape[0]):
        a[i] = dense_input(a[i], np.int64(w[i]), weight_exp)   # an int32 sum (Plan.accumulator) widened first


# --- the fused whole-graph loop's two steps (runtime/fused_kernel.py) ----------

@kernel(inline=True)
def lif_join(a, lo, n, sums, base, exp, scale, first):
    """a[lo + i] = dense_input(0 if first else a[lo + i], sums[base + i], exp): one Dense's int32
    a_out (its weight sum shifted by weight_exp) added in int32 to what the earlier synapses gave
    (a: int32); the sums are zeroed (`scale` unused). Unsigned indices: the loop vectorises."""
    lo, base = np.uint64(lo), np.uint64(base)
    for i in range(np.uint64(n)):
        a[lo + i] = I32(dense_input(0 if first else a[lo + i], np.int64(sums[base + i]), exp))   # int32 sums widened
        sums[base + i] = 0


@kernel(inline=True)
def lif_update(a, state, params, flags, p, lo, n, fired, over):
    """`lif_neuron` on neurons lo:lo+n: state [2, neurons] = (u, v) and params [4, neurons] = (du, dv,
    bias, vth << 6) in int32 (`fused_params`: rows), spikes into fired and overflow events into over
    (int32 [neurons]): no reduction and one lane width in the loop, so it vectorises 8 lanes wide
    (`flags`, `p` unused)."""
    lo = np.uint64(lo)
    for i in range(np.uint64(n)):
        k = lo + i
        u, v, s, n_o = lif_neuron(state[0, k], state[1, k], a[k], params[0, k], params[1, k], params[2, k],
                                  params[3, k])
        state[0, k], state[1, k], fired[k], over[k] = u, v, s, n_o


def fused_params(node: LoihiLIF) -> tuple[np.ndarray, np.ndarray]:
    """(params [4, n] int32: du, dv, effective bias, vth << 6 (each within 24 bits); flags [2]:
    unused) for `lif_update`."""
    params = np.stack([node.du, node.dv, effective_bias(node.bias_mant, node.bias_exp), node.vth << ACT_SHIFT])
    return np.ascontiguousarray(params, np.int32), np.zeros(2, np.int64)


# --- LoihiLIF in the simulators ----------------------------------------------

def run_events(node: LoihiLIF, pop):
    """Event engine: Dense outputs summed per synapse, then the loop with the recurrent Dense."""
    a_in, single = pop.joined_input(np.int64, lambda a, acc, syn: add_dense_output(a, acc, syn.weight_exp))
    rec = pop.recurrent()
    spikes, u_tr, v_tr, n_over, n_rec = lif_population(   # one Dense: its output is taken in the loop
        a_in, 0 if single is None else single.weight_exp, single is not None, node.du, node.dv, effective_bias(node.bias_mant, node.bias_exp), node.vth << ACT_SHIFT,
        rec.fan_out.indptr, rec.fan_out.post, rec.fan_out.weight, rec.weight_exp, rec.delay,
        "u" in pop.record, "v" in pop.record)
    return pop.result(spikes, {"u": u_tr, "v": v_tr}, n_over, n_rec)


def step(node: LoihiLIF, state, arriving):
    """Dense reference: one step from the spikes arriving now."""
    a = np.zeros(node.size, np.int64)
    for syn, s_pre in arriving:
        a = dense_input(a, syn.weights @ s_pre, syn.weight_exp)
    return lif_step(state["u"], state["v"], a, node.du, node.dv, effective_bias(node.bias_mant, node.bias_exp),
                    node.vth << ACT_SHIFT)


LOIHI_LIF = register_kind(NeuronKind(LoihiLIF, STATE, run_events, step, onnx="snnc.targets.loihi.onnx_kind:LOWERING"))
