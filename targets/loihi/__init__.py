"""`loihi`: Intel Loihi fixed point, bit-accurate with Lava 0.10.0 (one folder).

spec and registration here (design rules, energy, limits); `lif.py` the LoihiLIF
neuron kind and its integer semantics; `lava_layers.py` graphs in Lava's own
parameter names; `passes.py`, `quantise.py`, `flow.py` the compile flow;
`lava_exec.py` + `lava_worker.py` (Lava itself) and `lava_program.py` (the
exported Lava program) the independent executors; `float_form.py` the float
equivalent for NIR export.
"""
from __future__ import annotations

from snnc.compiler.ir import Conv2d, Graph, Synapse
from snnc.errors import DesignRuleError
from snnc.targets.base import EnergyConstant, Target, TimeStep
from snnc.targets.loihi import conv as _conv   # Conv2d as Lava's Conv process (registers its arithmetic, rules)
from snnc.targets.loihi.float_form import float_graph as _float_form
from snnc.targets.loihi.lava_layers import *  # noqa: F401,F403  (graph_from_lava_layers, layers_from_graph, ...)
from snnc.targets.loihi.lif import *  # noqa: F401,F403  (the neuron kind and its arithmetic: loihi.lif_step, ...)
from snnc.targets.loihi.lif import CORES, DENSE_DELAY, LOIHI_LIF, NEURONS_PER_CORE, RANGES
from snnc.targets.loihi.resources import usage   # cores per layer, chips, conv's shared-kernel memory
from snnc.targets.registry import register


# --- design rules -----------------------------------------------------------

def rule_weight_exp(graph: Graph) -> None:
    """Every Dense's exponent in range: a SplitDense's high Dense has weight_exp + shift."""
    bounds = RANGES["weight_exp"]
    for name, syn in graph.of_type(Synapse).items():
        exps = [e for _, e in split_parts(syn)] if isinstance(syn, SplitDense) else [syn.weight_exp]
        for exp in exps:
            if not bounds.holds(exp):
                raise DesignRuleError("weight-exp-range", name, f"weight_exp {exp} outside {bounds}")


def rule_weight_format(graph: Graph) -> None:
    """Weights Lava's Dense keeps unchanged under some sign mode: otherwise
    what runs in Lava is not what the graph says (e.g. [[-256, -3]]). A
    SplitDense's two Dense each (`split_parts`)."""
    for name, syn in graph.of_type(Synapse).items():
        if isinstance(syn, Conv2d):   # Lava's Conv keeps its weights as given: rule conv-weight-format
            continue
        parts = split_parts(syn) if isinstance(syn, SplitDense) else [(syn.weights, syn.weight_exp)]
        try:
            for weights, _ in parts:
                lava_sign_mode(weights)
        except GraphError:
            raise DesignRuleError("weight-format", name, "weights are not 8-bit Loihi weights (mixed signs "
                                  "or -256: even values in [-256, 254]; else |w| <= 255, one sign)") from None


def rule_dense_delay(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if syn.delay != DENSE_DELAY:
            raise DesignRuleError("dense-delay", name, f"delay {syn.delay}, Lava's Dense delivers after exactly 1 step")


@Target.capacity_rule
def rule_neurons_per_core(graph: Graph) -> None:
    """A population may span cores (the mapper splits it) but not exceed one chip's 128 cores."""
    for name, node in graph.neurons.items():
        if node.size > NEURONS_PER_CORE * CORES:
            raise DesignRuleError("neurons-per-chip", name,
                                  f"{node.size} neurons exceed {CORES} cores x {NEURONS_PER_CORE}")


def rule_single_port(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if syn.port != 0:
            raise DesignRuleError("single-port", name, f"port {syn.port}: Loihi LIF has one input port")


# --- energy (Davies et al., "Loihi", IEEE Micro 38(1), 2018, Table 1) --------

_DAVIES = "Davies et al., IEEE Micro 38(1):82-99, 2018, Table 1"
ENERGY = {
    "synaptic_op": EnergyConstant(23.6e-12, f"{_DAVIES}: synaptic spike op, 23.6 pJ"),
    "neuron_update": EnergyConstant(52e-12, f"{_DAVIES}: neuron update (inactive), 52 pJ"),
    "spike_extra": EnergyConstant(29e-12 + 1.7e-12,
                                  f"{_DAVIES}: active-neuron update 81 pJ minus inactive 52 pJ, "
                                  "plus within-tile spike 1.7 pJ; counting a spiking neuron as "
                                  "'active' is our estimate", estimate=True),
}
# A Loihi time step ends at a mesh-wide barrier once every core has updated all its
# compartments (Davies et al. 2018, "Mesh-level synchronization"), so its length
# depends on the load; no single figure is stated.
TIME_STEP = TimeStep(10e-6, "estimate: 10 us, the order of Loihi's algorithmic time step for a small "
                            "network (the step ends at a barrier once every core has updated its "
                            "neurons; Davies et al., IEEE Micro 38(1), 2018); it grows with neurons per "
                            "core and activity",
                     estimate=True)

LOIHI = register(Target(
    name="loihi",
    description="Intel Loihi LIF, bit-accurate with Lava 0.10.0 fixed_pt (PyLifModelBitAcc, PyDenseModelBitAcc)",
    neuron_kinds=(LOIHI_LIF.name,),
    widths={"weight": 8, **LOIHI_LIF.widths(), **{p: r.bits for p, r in RANGES.items()}, "a_in": 32},
    overflow="wrap (u, 24-bit as Lava), saturate (v)",
    limits={"neurons_per_core": NEURONS_PER_CORE, "cores": CORES, "synaptic_delay": DENSE_DELAY},
    energy=ENERGY,
    time_step=TIME_STEP,
    limit_sources={
        "neurons_per_core": f"{_DAVIES}: 1,024 neural units (compartments) per core",
        "cores": f"{_DAVIES}: 128 neuromorphic cores per chip",
        "synaptic_delay": "Lava 0.10.0 PyDenseModelBitAcc buffers a_out for one step (a_buff)",
    },
    ranges=RANGES,
    usage=usage,
    rules=(rule_weight_exp, rule_weight_format, rule_dense_delay, rule_neurons_per_core, rule_single_port,
           *_conv.RULES),
    reference_executor="Lava (lava-nc 0.10.0, Loihi2SimCfg(select_tag='fixed_pt'))",
    input_max=RANGES["input"].hi,
    input_format="binary (0/1)",
    flow="snnc.targets.loihi.flow:flow",
    weight_grid="snnc.targets.loihi.grid:weight_grid",
    executors={"lava": "snnc.targets.loihi.lava_exec:execute",
               "lava-program": "snnc.targets.loihi.lava_program:run_program",
               "onnx": "snnc.compiler.export:run_onnx"},
    synapse_delay=lambda from_input: DENSE_DELAY,   # Lava's Dense delivers one step late, every synapse
    float_form=_float_form,
    exports={"lava": "snnc.targets.loihi.lava_program"},   # the Lava program (`snnc export --format lava`)
    options=("weight_split", "v_margin"),   # quantise.py: synapses as two Dense (SplitDense); v's headroom
    precision_hint="--weight-split all deploys each synapse as two Dense (9-16-bit weights) and --v-margin 0.5 "
                   "a finer state scale (the braille RNN: 0.80 -> 0.98 agreement)",
))
