"""`toy`: a chip added in one folder, to prove that one folder is all a chip needs.

A float chip (FloatLIF, the ideal target's neuron kind) whose synapses deliver one
step late (as Loihi's), whose weights are multiples of 1/64 (its quantiser), and
whose populations hold at most 64 neurons (a capacity design rule). Its flow and
its executor are named in its record and live in this folder; nothing outside
this folder knows it. Importing the package registers it (`unregister` removes it).
"""
from __future__ import annotations

from snnc.errors import DesignRuleError
from snnc.targets.base import EnergyConstant, Target
from snnc.targets.registry import register

POPULATION = 64          # neurons per population (the toy chip's only limit)
WEIGHT_STEP = 1.0 / 64   # weights are stored as multiples of this
_EST = "estimate: a toy chip, not a measured one"


@Target.capacity_rule
def rule_population(graph) -> None:
    for name, node in graph.neurons.items():
        if node.size > POPULATION:
            raise DesignRuleError("population-size", name, f"{node.size} neurons > {POPULATION}")


TOY = register(Target(
    name="toy",
    description="a toy float chip defined in tests/targets/toy_chip/ alone",
    neuron_kinds=("FloatLIF",),
    widths={"weight": 32},
    overflow="none",
    limits={"population": POPULATION},
    limit_sources={"population": _EST},
    energy={"synaptic_op": EnergyConstant(1e-12, _EST, estimate=True),
            "neuron_update": EnergyConstant(1e-13, _EST, estimate=True),
            "spike_extra": EnergyConstant(0.0, _EST, estimate=True)},
    rules=(rule_population,),
    reference_executor="onnxruntime on the exported float ONNX model",
    integer=False,
    flow="tests.targets.toy_chip.flow:flow",
    executors={"toy-onnx": "tests.targets.toy_chip.executor:run"},
    synapse_delay=lambda from_input: 1,
))
