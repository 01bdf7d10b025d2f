"""Each target owns its neuron kinds: one range table that node checks, design rules,
executors and `inspect` read, and a registration both simulators dispatch through,
so that a new kind is one file."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import snnc
from snnc.compiler.ir import NODE_TYPES, Graph, Input, Neuron, Synapse
from snnc.errors import DesignRuleError, GraphError, InputError
from snnc.targets.loihi import lava_exec
from snnc.targets.xylo import xylosim_exec
from snnc.targets import all_targets, kind_of, loihi, xylo

NEURON_KINDS = [cls for cls in NODE_TYPES.values() if issubclass(cls, Neuron)]
REQUIRED = {"XyloIAF": lambda n: {"dash_syn": np.zeros((n, 1), np.int64)}}  # fields without a usable default


def make(cls, n, **params):
    return cls(n, **{**REQUIRED.get(cls.__name__, lambda n: {})(n), **params})


def test_every_range_cites_its_source_and_bounds_itself():
    for name, target in all_targets().items():
        for param, r in target.ranges.items():
            assert r.source and r.lo <= r.hi, f"{name}.{param}"
            assert r.bits >= max(r.hi.bit_length(), 1), f"{name}.{param}: {r.bits} bits cannot hold {r.hi}"


@pytest.mark.parametrize("cls", NEURON_KINDS, ids=lambda c: c.__name__)
def test_every_neuron_class_is_a_registered_kind_with_its_state(cls):
    node = make(cls, 2)
    kind = kind_of(node)
    assert kind.node is cls and tuple(kind.state) == cls.state_vars
    target = next(t for t in all_targets().values() if cls.__name__ in t.neuron_kinds)
    for var, sv in kind.state.items():
        assert target.widths[var] == sv.bits, f"{cls.__name__}.{var}"
        assert kind.initial_state(node)[var].shape == sv.shape(node)


@pytest.mark.parametrize("cls", NEURON_KINDS, ids=lambda c: c.__name__)
def test_node_checks_read_the_target_range_table(cls):
    target = next(t for t in all_targets().values() if cls.__name__ in t.neuron_kinds)
    params = [p for p in cls.__dataclass_fields__ if p in target.ranges and p != "dash_syn"]
    assert params, f"{cls.__name__} checks no parameter against {target.name}'s table"
    for p in params:
        r = target.ranges[p]
        make(cls, 1, **{p: r.lo}), make(cls, 1, **{p: r.hi})
        for bad in (r.lo - 1, r.hi + 1):
            with pytest.raises(GraphError, match=rf"'{p}' must lie in \[{r.lo}, {r.hi}\]"):
                make(cls, 1, **{p: bad})


def test_executors_check_against_the_same_ranges():
    for key in loihi.LIF_PARAMS + ("weight_exp", "sign_mode"):
        assert lava_exec.PARAM_RANGES[key] is loihi.RANGES[key]
    assert lava_exec.PARAM_RANGES["rec_weight_exp"] is loihi.RANGES["weight_exp"]
    for key, r in xylosim_exec.PARAM_RANGES.items():
        assert r in xylo.RANGES.values(), key
    assert xylosim_exec.PARAM_RANGES["threshold"] is xylo.RANGES["threshold"]
    assert loihi.LOIHI.input_max == loihi.RANGES["input"].hi and xylo.XYLO.input_max == xylo.RANGES["input"].hi


def test_xylo_weight_shift_agrees_everywhere():
    """The design rule, graph construction and xylosim's parameter check share [0, 7]."""
    params = dict(w_in=[[[1]]], w_rec=[[[0]]], w_out=[[1]], threshold=10, threshold_out=10)
    xylo.graph_from_xylo(**params, weight_shift_in=7)
    with pytest.raises(DesignRuleError, match="weight-shift"):
        xylo.graph_from_xylo(**params, weight_shift_in=8)
    with pytest.raises(InputError, match=r"'weight_shift_in' must lie in \[0, 7\]"):
        xylosim_exec.check_params({**params, "weight_shift_in": 8, "weight_shift_rec": 0, "weight_shift_out": 0,
                                   "bias": 0, "bias_out": 0, "dash_mem": 0, "dash_mem_out": 0, "dash_syn": 0,
                                   "dash_syn_out": 0}, 1)


def test_record_names_come_from_the_kinds():
    g = Graph(target="loihi")
    g.add("input", Input(1))
    g.add("dense", Synapse(np.array([[4]]), 0, 1), ["input"])
    g.add("lif", loihi.LoihiLIF(1, du=0, dv=0, vth=1000), ["dense"])
    res = snnc.runtime.simulate(g, [[1], [0]], record=("i_syn", "v"))
    assert res.state["lif"]["i_syn"].tolist() == [[0], [256]]  # Loihi's u answers to i_syn


# A new neuron kind and its target in one file, as a user would write it: a
# non-spiking float leaky integrator. Run in a subprocess so that it does not
# join this session's registries.
NEW_KIND = textwrap.dedent('''
    from dataclasses import dataclass
    import numpy as np
    import snnc
    from snnc.compiler.ir import Graph, Input, Output, Synapse, load, save
    from snnc.compiler.ir.checks import float_vector
    from snnc.compiler.ir.nodes import Neuron, register_node
    from snnc.compiler.inventory import node_row
    from snnc.targets.base import EnergyConstant, NeuronKind, StateVar, Target
    from snnc.targets.registry import register, register_kind

    STATE = {"v": StateVar(np.float32, 32)}

    @register_node
    @dataclass(eq=False)
    class LeakyReadout(Neuron):
        """Non-spiking readout: v <- beta v + a_in (float32)."""
        beta: np.ndarray = 1.0
        state_vars = tuple(STATE)

        def check(self):
            self.size = int(self.size)
            self.beta = float_vector("beta", self.beta, self.size)

    def add_input(a, weighted_sum, syn):
        a += weighted_sum * 2.0 ** syn.weight_exp

    def run_events(node, pop):
        a = np.zeros(pop.shape + (node.size,), np.float64)
        for syn, acc in pop.external_sums(np.float64):
            add_input(a, acc, syn)
        v = np.zeros(pop.shape + (node.size,), np.float32)
        for t in range(pop.shape[1]):
            v[:, t] = node.beta * (v[:, t - 1] if t else 0) + a[:, t]
        return pop.result(np.zeros(v.shape, np.int64), {"v": v}, 0)

    def step(node, state, arriving):
        a = np.zeros(node.size, np.float64)
        for syn, s_pre in arriving:
            add_input(a, syn.weights.astype(np.float64) @ s_pre, syn)
        state["v"][:] = node.beta * state["v"] + a
        return np.zeros(node.size, np.int64), 0

    register_kind(NeuronKind(LeakyReadout, STATE, run_events, step))
    zero = EnergyConstant(0.0, "toy", estimate=True)
    register(Target(name="toy", description="toy", neuron_kinds=("LeakyReadout",), widths={"v": 32},
                    overflow="none", limits={},
                    energy={"synaptic_op": zero, "neuron_update": zero, "spike_extra": zero}))

    g = Graph(target="toy")
    g.add("input", Input(2))
    g.add("fc", Synapse(np.array([[1.0, 2.0]], np.float32), -1, 1), ["input"])
    g.add("ro", LeakyReadout(1, beta=0.5), ["fc"])
    g.add("out", Output(1, read="v"), ["ro"])
    x = np.array([[[1, 1], [0, 0], [1, 0]]])
    ev = snnc.runtime.simulate(g, x, record="v")
    ref = snnc.runtime.simulate(g, x, record="v", engine="reference")
    assert ev.state["ro"]["v"][0, :, 0].tolist() == [0.0, 1.5, 0.75], ev.state
    assert ref.state["ro"]["v"].tolist() == ev.state["ro"]["v"].tolist() and ev.stats == ref.stats
    import pathlib, tempfile
    back = load(save(g, pathlib.Path(tempfile.mkdtemp()) / "toy.snnc"))
    assert type(back.nodes["ro"]) is LeakyReadout
    assert node_row(back, "ro", back.nodes["ro"])["bits"] == "v 32"
    print("ok")
''')


def test_a_new_kind_is_one_file():
    out = subprocess.run([sys.executable, "-c", NEW_KIND], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
