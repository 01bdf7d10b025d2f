"""simulate(check=...): a hand-built graph too big for the chip (a capacity rule)
is refused by default and runs with check="warn", listing what it breaks;
rules that define the semantics (weight format, delays, neuron kind) always raise."""
import json

import numpy as np
import pytest

import snnc
from snnc.cli import main
from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse, save
from snnc.errors import DesignRuleError, InputError
from snnc.runtime.simulate import DesignRuleWarning
from snnc.targets import loihi, xylo
from snnc.targets.base import is_capacity_rule


def xylo_fan_out_65() -> Graph:
    """graph_from_xylo's shape, hand-built (graph_from_xylo itself would refuse it):
    hidden neuron 3 reaches 40 + 25 = 65 recurrent targets over both synaptic ports."""
    g = xylo.graph_from_xylo(np.ones((2, 70, 2), int), np.zeros((70, 70, 2), int), np.ones((70, 3), int),
                             threshold=40, threshold_out=20, dash_syn=2, dash_mem=2, weight_shift_in=4)
    for port, n in ((0, 40), (1, 25)):
        w = np.zeros((70, 70), int)
        w[:n, 3] = -5
        name = xylo.xylo_graph._syn_name("w_rec", port)
        g.nodes[name] = Synapse(w, 0, 1, port)
    return g


def loihi_too_many_neurons() -> Graph:
    n = loihi.NEURONS_PER_CORE * 128 + 1
    g = Graph(target="loihi")
    g.add("in", Input(1))
    g.add("dense", Synapse(np.full((n, 1), 64), 0, 1), ["in"])
    g.add("big", LoihiLIF(n, vth=1), ["dense"])
    g.add("out", Output(n), ["big"])
    return g


CASES = {"xylo": (xylo_fan_out_65, "max-fan-out", "hidden", 2),
         "loihi": (loihi_too_many_neurons, "neurons-per-chip", "big", 1)}


@pytest.mark.parametrize("target", sorted(CASES))
def test_capacity_violation_refused_by_default(target):
    build, rule, node, n_in = CASES[target]
    with pytest.raises(DesignRuleError) as info:
        snnc.runtime.simulate(build(), np.ones((3, n_in), int))
    assert (info.value.rule, info.value.node) == (rule, node) and "\n" not in str(info.value)


@pytest.mark.parametrize("target", sorted(CASES))
def test_capacity_violation_runs_with_warn_and_is_listed(target):
    build, rule, node, n_in = CASES[target]
    graph = build()
    with pytest.warns(DesignRuleWarning, match=rule):
        res = snnc.runtime.simulate(graph, np.ones((2, 4, n_in), int), check="warn")
    assert [(v["rule"], v["node"]) for v in res.violations] == [(rule, node)]
    assert res.summary()["violations"] == res.violations
    assert json.loads(json.dumps(res.summary()))["violations"][0]["detail"] == res.violations[0]["detail"]
    assert res.spikes[node].any()
    # the plan is cached, but the default still refuses afterwards
    with pytest.raises(DesignRuleError, match=rule):
        snnc.runtime.simulate(graph, np.ones((2, 4, n_in), int))


@pytest.mark.xylosim
def test_xylo_fan_out_65_with_warn_still_equals_xylosim():
    from snnc.targets.xylo import xylosim_exec
    from tests.backends import require
    require("xylosim", xylosim_exec.xylosim_v2)
    graph, x = xylo_fan_out_65(), np.random.default_rng(0).integers(0, 4, (2, 20, 2))
    with pytest.warns(DesignRuleWarning):
        ours = snnc.runtime.simulate(graph, x, record=("v", "i_syn"), check="warn")
    ref = xylosim_exec.run_xylosim_graph(graph, x)
    for node in ("hidden", "readout"):
        np.testing.assert_array_equal(ours.spikes[node], ref[node]["spikes"])
        np.testing.assert_array_equal(ours.state[node]["v"], ref[node]["v"])
        np.testing.assert_array_equal(ours.state[node]["i_syn"], ref[node]["i_syn"])


def wrong_delay(g: Graph) -> Graph:
    g.nodes["w_in"] = Synapse(g.nodes["w_in"].weights, 0, 1, 0)
    return g


def wrong_shift(g: Graph) -> Graph:
    g.nodes["w_out"] = Synapse(g.nodes["w_out"].weights, 8, 1, 0)
    return g


def odd_mixed_loihi_weights(g: Graph) -> Graph:
    g.nodes["dense"] = Synapse(np.array([[3], [-1]] * (g.nodes["big"].size // 2) + [[1]]), 0, 1)
    return g


def loihi_neuron_on_xylo(g: Graph) -> Graph:
    g.nodes["readout"] = LoihiLIF(3)
    return g


@pytest.mark.parametrize("build,breaks,rule", [
    (xylo_fan_out_65, wrong_delay, "delivery-order"),
    (xylo_fan_out_65, wrong_shift, "weight-shift"),
    (xylo_fan_out_65, loihi_neuron_on_xylo, "neuron-kind"),
    (loihi_too_many_neurons, odd_mixed_loihi_weights, "weight-format"),
])
def test_other_rules_raise_even_with_warn(build, breaks, rule):
    graph = breaks(build())
    n_in = next(iter(graph.inputs.values())).size
    with pytest.raises(DesignRuleError) as info:
        snnc.runtime.simulate(graph, np.ones((2, n_in), int), check="warn")
    assert info.value.rule == rule


def test_target_check_returns_or_raises_capacity_violations():
    graph = xylo_fan_out_65()
    (found,) = xylo.XYLO.check(graph, capacity="warn")
    assert (found.rule, found.node) == ("max-fan-out", "hidden") and "65 recurrent targets" in found.detail
    with pytest.raises(DesignRuleError, match="max-fan-out"):
        xylo.XYLO.check(graph)
    assert is_capacity_rule(loihi.rule_neurons_per_core) and not is_capacity_rule(loihi.rule_weight_format)


def test_unknown_check_mode():
    with pytest.raises(InputError, match="check 'maybe' unknown"):
        snnc.runtime.simulate(xylo_fan_out_65(), np.ones((2, 2), int), check="maybe")


def test_cli_check_warn_writes_violations(tmp_path, capsys):
    path = save(xylo_fan_out_65(), tmp_path / "wide.snnc")
    np.save(tmp_path / "x.npy", np.ones((5, 2), np.int64))
    assert main(["simulate", str(path), "--input", str(tmp_path / "x.npy")]) == 2
    assert "max-fan-out" in capsys.readouterr().err
    report = tmp_path / "r.json"
    with pytest.warns(DesignRuleWarning):
        code = main(["simulate", str(path), "--input", str(tmp_path / "x.npy"), "--check", "warn",
                     "--report", str(report)])
    assert code == 0
    (v,) = json.loads(report.read_text())["violations"]
    assert (v["rule"], v["node"]) == ("max-fan-out", "hidden")
