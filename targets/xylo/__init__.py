"""`xylo`: SynSense Xylo Audio 2's SNN core, bit-accurate with xylosim v2 (one folder).

spec and registration here (design rules, energy, limits); `iaf.py` the XyloIAF
neuron kind and its integer semantics; `xylo_graph.py` graphs in xylosim's
parameter names; `passes.py`, `layout.py`, `quantise.py`, `flow.py` the compile
flow; `onnx_kind.py` the ONNX form of XyloIAF; `xylosim_exec.py` the independent
executor (SynSense's xylosim).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Input, Synapse
from snnc.errors import DesignRuleError
from snnc.targets.base import EnergyConstant, Target, TimeStep, capacity_rule
from snnc.targets.registry import register
from snnc.targets.xylo.iaf import *  # noqa: F401,F403  (the neuron kind and its arithmetic)
from snnc.targets.xylo.iaf import LIMIT_SOURCES, LIMITS, MAX_INPUT_SPIKES, RANGES, XYLO_IAF
from snnc.targets.xylo.xylo_graph import *  # noqa: F401,F403  (graph_from_xylo, params_from_graph, ...)


# --- design rules -----------------------------------------------------------

@capacity_rule
def rule_sizes(graph: Graph) -> None:
    """Input channels, hidden and output neurons, each summed over the chip's nodes."""
    _running_total(graph.inputs, LIMITS["inputs"], "max-inputs", "input channels")
    readouts = readout_populations(graph)
    _running_total({n: p for n, p in graph.neurons.items() if n not in readouts}, LIMITS["hidden"],
                   "max-hidden", "hidden neurons")
    _running_total({n: graph.nodes[n] for n in readouts}, LIMITS["outputs"], "max-outputs", "output neurons")


def _running_total(nodes: dict, limit: int, rule: str, what: str) -> None:
    """Raise naming the node at which the running total of sizes passes `limit`."""
    total = 0
    for name, node in nodes.items():
        total += node.size
        if total > limit:
            raise DesignRuleError(rule, name, f"{total} {what} in all > {limit}")


def readout_populations(graph: Graph) -> set[str]:
    """Populations an Output reads: Xylo's readout neurons; the others are hidden."""
    return {n for o in graph.outputs for n in graph.predecessors(o)}


@capacity_rule
def rule_fan_out(graph: Graph) -> None:
    """A hidden neuron reaches at most 64 (target, synaptic state) pairs through W_rec.

    Synapses between hidden populations (a feed-forward stack maps onto one
    recurrent population as block matrices) are W_rec too; synapses into a
    readout population are W_out and those from an Input are W_in, neither
    limited beyond the neuron counts (rule_sizes). Each synaptic port counts
    on its own, as Rockpool's "Avg. fanout 32+32 (Syn1 and Syn2)" does.
    """
    readouts = readout_populations(graph)
    for name, node in graph.neurons.items():
        targets = np.zeros(node.size, np.int64)
        for syn_name in graph.successors(name):
            syn = graph.nodes[syn_name]
            if isinstance(syn, Synapse) and graph.successors(syn_name)[0] not in readouts:
                targets += np.count_nonzero(syn.weights, axis=0)
        if targets.size and targets.max() > LIMITS["fan_out"]:
            j = int(targets.argmax())
            raise DesignRuleError("max-fan-out", name, f"hidden neuron {j} has {targets[j]} recurrent targets "
                                  f"(synaptic states counted apart) > {LIMITS['fan_out']}")


def rule_weights(graph: Graph) -> None:
    weight, shift = RANGES["weight"], RANGES["weight_shift"]
    for name, syn in graph.of_type(Synapse).items():
        if syn.weights.dtype.kind == "f" or not weight.holds(syn.weights):
            raise DesignRuleError("weight-int8", name, f"weights must be int8 {weight}")
        if not shift.holds(syn.weight_exp):
            raise DesignRuleError("weight-shift", name, f"weight shift {syn.weight_exp} outside {shift}")


def rule_delays(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        src = graph.synapse_source(name)
        want = 0 if isinstance(graph.nodes[src], Input) else 1
        if syn.delay != want:
            raise DesignRuleError("delivery-order", name,
                                  f"delay {syn.delay}; Xylo delivers input at once and hidden spikes one step later")


# --- energy: Rockpool's clock-cycle model of Xylo Audio 2 times an energy per cycle ---
#
# Cycles: Rockpool's SYNS61201 `cycles_model` (rockpool/devices/xylo/syns61201/
# power_cycles_model.py, last changed in commit b4c1ce26175651795313db2bb6ebe0a26bf232e9),
# the master clock cycles the core spends on one network step, evaluated per
# sample on the simulated rasters (a spike count > 0 is one event, as there).
# Without neuron aliases its terms are linear in the events, so summing them over
# steps is Rockpool's per-step model times the number of steps. Isyn2 work runs
# in parallel with Isyn1 and costs no cycles (Rockpool's docstring).

_ROCKPOOL = ("Rockpool syns61201 power_cycles_model.py cycles_model() "
             "(commit b4c1ce26175651795313db2bb6ebe0a26bf232e9)")
CYCLES = {  # term -> (cycles per operation, one operation, Rockpool's expression)
    "input_channel": (1.0, "input channel per step", "Nin * (... + 1)"),
    "input_event": (3.5, "active input channel x hidden neuron per step",
                    "input_loop_cycles = 3.5, x input_spk_prob * Nien"),
    "hidden_neuron": (3.0 + 19.0, "hidden neuron per step",
                      "'+ 3' of single_hidden_neuron_isyn_cycles + fixed_hidden_neuron_cycles = 19"),
    "recurrent_event": (7.0, "active hidden neuron x mean recurrent fan-out per step",
                        "hidden_update_cycles = 7, x Nhid_fanout_avg * hidden_spk_prob"),
    "hidden_event": (2.0 + 1.0 + 1.0, "active hidden neuron per step",
                     "var_hidden_neuron_cycles without aliases (2 + 1) + the '1 +' of the output Isyn loop"),
    "readout_event": (8.0, "active hidden neuron x output neuron per step",
                      "output_isyn_update_cycles = 8, x Nout * hidden_spk_prob * Noen"),
    "output_neuron": (12.0, "output neuron per step", "fixed_output_neuron_spk_cycles = 12"),
}

# Energy per cycle: SynSense's published Xylo Audio 2 dynamic inference power
# divided by the master clock of the measurement. The clock of that measurement
# is not in the abstract we could read, so it is an estimate (Rockpool's Xylo
# Audio power tutorial sets 6.25 MHz for its measurement; the chip's default is
# 50 MHz). Dividing by the clock charges every clock cycle, as the tutorial's
# "lowering the core clock frequency lowers power consumption proportionally"
# suggests; where the core idles after its cycles of a step (same tutorial: "the
# core performs no operations until the next network time-step"), a busy cycle
# costs more, so this is a lower bound. (Tutorial: Rockpool
# docs/devices/quick-xylo/xylo-audio-intro.ipynb, commit 42cee1c96422f27257138a96618821e0e6bd5b41.)
DYNAMIC_POWER_W = 291e-6  # Bos & Muir, arXiv:2406.15112 (2024), abstract: Aloha KWS dynamic inference power
CLOCK_HZ = 6.25e6         # estimate: Rockpool docs/devices/quick-xylo/xylo-audio-intro.ipynb sets
                          # set_xylo_core_clock_freq(hdk, 6.25) before measuring power
ENERGY_PER_CYCLE_J = DYNAMIC_POWER_W / CLOCK_HZ
_PER_CYCLE = (f"{ENERGY_PER_CYCLE_J * 1e12:.1f} pJ/cycle = 291 uW dynamic inference power (Bos & Muir, "
              "arXiv:2406.15112, abstract; Xylo Audio 2, Aloha KWS) / 6.25 MHz master clock "
              "(estimate: the clock of Rockpool's Xylo Audio power tutorial; at the 50 MHz default it "
              "would be 5.8 pJ); a lower bound where the core idles between steps. Cross-check: "
              "Bos & Muir, arXiv:2208.12991, abstract: < 100 uW inference power")
ENERGY = {term: EnergyConstant(cycles * ENERGY_PER_CYCLE_J,
                               f"{cycles:g} cycles per {what} ({_ROCKPOOL}: {expr}) x {_PER_CYCLE}",
                               estimate=True)
          for term, (cycles, what, expr) in CYCLES.items()}
TIME_STEP = TimeStep(1e-3, "Rockpool syns61201 XyloSim and XyloSamna default dt = 1 ms "
                           "(rockpool/devices/xylo/syns61201/xylo_sim.py, xylo_samna.py, commit "
                           "42cee1c96422f27257138a96618821e0e6bd5b41); the chip's dt is configurable")


def cycle_counts(graph: Graph, spikes: dict) -> dict[str, dict[str, np.ndarray]]:
    """Operations of each `CYCLES` term per sample, by population (inputs included)."""
    readouts = readout_populations(graph)
    hidden = [n for n in graph.neurons if n not in readouts]
    n_hid = sum(graph.nodes[n].size for n in hidden)
    active = {n: np.count_nonzero(np.asarray(s), axis=(1, 2)).astype(np.float64) for n, s in spikes.items()}
    steps = next(iter(spikes.values())).shape[1]
    active_in = sum(active[n] for n in graph.inputs)
    active_hid = sum((active[n] for n in hidden), np.zeros_like(active_in))
    fan_out = _mean_recurrent_fan_out(graph, hidden, n_hid)
    ones = np.ones_like(active_in)
    return {
        "input_channel": {n: ones * node.size * steps for n, node in graph.inputs.items()},
        "input_event": {n: active_in * graph.nodes[n].size for n in hidden},  # each active channel visits all
        "hidden_neuron": {n: ones * graph.nodes[n].size * steps for n in hidden},
        "recurrent_event": {n: active[n] * fan_out for n in hidden},
        "hidden_event": {n: active[n] for n in hidden},
        "readout_event": {n: active_hid * graph.nodes[n].size for n in readouts},
        "output_neuron": {n: ones * graph.nodes[n].size * steps for n in readouts},
    }


def _mean_recurrent_fan_out(graph: Graph, hidden: list[str], n_hid: int) -> float:
    """Rockpool's Nhid_fanout_avg: non-zero W_rec entries per hidden neuron (synaptic state 1: Rockpool
    reads `config.reservoir.weights`; Isyn2 work runs in parallel and costs no cycles)."""
    hidden_set = set(hidden)
    nonzero = sum(int(np.count_nonzero(syn.weights)) for name, syn in graph.of_type(Synapse).items()
                  if syn.port == 0 and graph.synapse_source(name) in hidden_set
                  and graph.successors(name)[0] in hidden_set)
    return nonzero / n_hid if n_hid else 0.0


def usage(graph: Graph) -> dict:
    """Input channels, hidden and output neurons (summed over the chip's nodes) against the limits."""
    readouts = readout_populations(graph)
    hidden = sum(n.size for name, n in graph.neurons.items() if name not in readouts)
    return {"inputs": sum(n.size for n in graph.inputs.values()), "inputs_limit": LIMITS["inputs"],
            "hidden": hidden, "hidden_limit": LIMITS["hidden"],
            "outputs": sum(graph.nodes[n].size for n in readouts), "outputs_limit": LIMITS["outputs"]}


XYLO = register(Target(
    name="xylo",
    description="SynSense Xylo Audio 2 SNN core, bit-accurate with xylosim v2 (XyloLayer.evolve)",
    neuron_kinds=(XYLO_IAF.name,),
    widths={**XYLO_IAF.widths(), **{p: r.bits for p, r in RANGES.items()}},
    overflow="saturate (16-bit states)",
    limits=LIMITS,
    limit_sources=LIMIT_SOURCES,
    usage=usage,
    energy=ENERGY,
    energy_counts=cycle_counts,
    time_step=TIME_STEP,
    ranges=RANGES,
    rules=(rule_sizes, rule_fan_out, rule_weights, rule_delays),
    reference_executor="xylosim 0.1.3 (xylosim.v2.XyloLayer)",
    input_max=RANGES["input"].hi,
    input_format="uint8 counts (<= 255)",
    input_cap=MAX_INPUT_SPIKES,
    flow="snnc.targets.xylo.flow:flow",
    weight_grid="snnc.targets.xylo.grid:weight_grid",
    executors={"xylosim": "snnc.targets.xylo.xylosim_exec:run_xylosim_graph",
               "onnx": "snnc.compiler.export:run_onnx"},
    # input spikes reach the hidden population in the same step; hidden spikes reach hidden
    # and readout neurons one step later (xylosim's XyloLayer.evolve)
    synapse_delay=lambda from_input: 0 if from_input else 1,
    max_drop=0.02,   # bit-shift decays and int8 weights: a coarser chip than Loihi (our choice)
))
