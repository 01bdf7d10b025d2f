"""Xylo's design rules as SynSense documents them, and params_from_graph.

Fan-out (Rockpool, "Overview of the Xylo family", XyloAudio 2): "Max. fanout 64",
"Avg. fanout 32+32 (Syn1 and Syn2)", "Max. input projection: to 1000 hidden
neurons". So a hidden neuron's recurrent targets are limited (both synaptic
states counted), an input channel's are not.
"""
import inspect

import numpy as np
import pytest

import snnc
from snnc.compiler.ir import Graph, Input, Output, Synapse, XyloIAF
from snnc.errors import DesignRuleError, GraphError
from snnc.targets.xylo import xylosim_exec
from snnc.targets import xylo
from snnc.targets.base import is_capacity_rule
from tests.backends import require


def recurrent_with_fan_out(rng, n_hid, per_port):
    """w_rec [n_hid, n_hid, 2] where each neuron reaches per_port[k] targets on port k."""
    w = np.zeros((n_hid, n_hid, 2), np.int64)
    for j in range(n_hid):
        for k, n in enumerate(per_port):
            targets = rng.choice(n_hid, n, replace=False)
            w[j, targets, k] = rng.integers(1, 128, n) * rng.choice([-1, 1], n)
    return w


def wide_params(rng, n_hid=170, per_port=(32, 32)):
    """16 inputs that each reach every one of n_hid hidden neurons on both ports."""
    return dict(w_in=rng.integers(-128, 128, (16, n_hid, 2)) | 1,  # | 1: no zero weight, full fan-out
                w_rec=recurrent_with_fan_out(rng, n_hid, per_port), w_out=rng.integers(-128, 128, (n_hid, 8)),
                threshold=rng.integers(100, 3000, n_hid), threshold_out=rng.integers(50, 500, 8),
                bias=rng.integers(-20, 20, n_hid), bias_out=rng.integers(-20, 20, 8),
                weight_shift_in=3, weight_shift_rec=2, weight_shift_out=2,
                dash_mem=rng.integers(1, 8, n_hid), dash_mem_out=rng.integers(1, 8, 8),
                dash_syn=rng.integers(1, 8, (n_hid, 2)), dash_syn_out=rng.integers(1, 8, (8, 1)))


@pytest.mark.xylosim
def test_inputs_reach_170_hidden_neurons_and_match_xylosim():
    require("xylosim", xylosim_exec.xylosim_v2)
    rng = np.random.default_rng(170)
    params = wide_params(rng)
    graph = xylo.graph_from_xylo(**params)  # runs the design rules: must not raise
    assert np.count_nonzero(params["w_in"], axis=(1, 2)).min() == 2 * 170
    assert xylo.XYLO.check(graph, capacity="warn") == []
    x = rng.integers(0, 6, (3, 40, 16))
    ours = snnc.runtime.simulate(graph, x, record=("v", "i_syn"))
    ref = xylosim_exec.run_xylosim(params, x)
    for node in ("hidden", "readout"):
        for var, mine in (("spikes", ours.spikes[node]), ("v", ours.state[node]["v"]),
                          ("i_syn", ours.state[node]["i_syn"])):
            np.testing.assert_array_equal(mine, ref[node][var], err_msg=f"{node}.{var}")
    assert ours.spikes["hidden"].any() and ours.spikes["readout"].any()


def test_64_recurrent_targets_over_both_ports_pass_and_readout_weights_do_not_count():
    params = wide_params(np.random.default_rng(1), n_hid=80, per_port=(40, 24))
    params["w_out"] = np.ones((80, 8), np.int64)  # 64 recurrent + 8 readout targets each
    xylo.graph_from_xylo(**params)


@pytest.mark.parametrize("per_port", [(65, 0), (33, 32)])
def test_65_recurrent_targets_are_refused(per_port):
    params = wide_params(np.random.default_rng(2), n_hid=80, per_port=per_port)
    with pytest.raises(DesignRuleError) as info:
        xylo.graph_from_xylo(**params)
    assert (info.value.rule, info.value.node) == ("max-fan-out", "hidden")
    assert "65 recurrent targets" in str(info.value) and "> 64" in str(info.value)


def test_recurrent_targets_in_another_hidden_population_count():
    """A feed-forward stack maps onto W_rec: hidden -> hidden2 synapses are recurrent entries."""
    g = Graph(target="xylo")
    g.add("input", Input(2))
    g.add("h1", XyloIAF(3, threshold=10, dash_syn=np.zeros((3, 1))))
    g.add("h2", XyloIAF(70, threshold=10, dash_syn=np.zeros((70, 1))))
    g.add("ro", XyloIAF(2, threshold=10, dash_syn=np.zeros((2, 1)), max_spikes=1))
    g.add("w0", Synapse(np.ones((3, 2), int), 0, 0), ["input"])
    g.connect("w0", "h1")
    g.add("w1", Synapse(np.ones((70, 3), int), 0, 1), ["h1"])
    g.connect("w1", "h2")
    g.add("w2", Synapse(np.ones((2, 70), int), 0, 1), ["h2"])
    g.connect("w2", "ro")
    g.add("out", Output(2), ["ro"])
    with pytest.raises(DesignRuleError, match="'max-fan-out' violated by node 'h1'"):
        xylo.XYLO.check(g)


def test_hidden_neurons_are_counted_over_all_hidden_populations():
    g = Graph(target="xylo")
    g.add("input", Input(1))
    for name, n in (("a", 600), ("b", 500)):
        g.add(name, XyloIAF(n, threshold=10, dash_syn=np.zeros((n, 1))))
    g.add("ro", XyloIAF(1, threshold=10, dash_syn=np.zeros((1, 1)), max_spikes=1))
    for src, dst in (("input", "a"), ("a", "b"), ("b", "ro")):
        g.add(f"{src}_{dst}", Synapse(np.zeros((g.nodes[dst].size, g.nodes[src].out_size), int), 0,
                                      0 if src == "input" else 1), [src])
        g.connect(f"{src}_{dst}", dst)
    g.add("out", Output(1), ["ro"])
    with pytest.raises(DesignRuleError, match="'max-hidden' violated by node 'b': 1100 hidden neurons"):
        xylo.XYLO.check(g)


def test_capacity_rules_are_marked_declaratively():
    assert is_capacity_rule(xylo.rule_sizes) and is_capacity_rule(xylo.rule_fan_out)
    assert not is_capacity_rule(xylo.rule_weights) and not is_capacity_rule(xylo.rule_delays)


def test_every_limit_cites_its_source():
    source = "".join(inspect.getsource(m) for m in (xylo, xylo.iaf))   # the chip's folder: spec and kind
    block = source[source.index("LIMITS = {"):source.index("}", source.index("LIMITS = {"))]
    for key in xylo.LIMITS:
        line = next(ln for ln in block.splitlines() if f'"{key}"' in ln)
        assert "[R]" in line or "[X]" in line, f"limit {key} cites no source"
    assert "https://rockpool.ai/devices/xylo-overview.html" in source and "Max. fanout 64" in source


# --- params_from_graph ------------------------------------------------------------

def test_params_from_graph_inverts_graph_from_xylo():
    params = wide_params(np.random.default_rng(3), n_hid=20, per_port=(3, 2))
    back = xylo.params_from_graph(xylo.graph_from_xylo(**params))
    assert set(back) == set(params)
    for key, value in params.items():
        np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_params_from_graph_without_recurrent_synapse_gives_zeros():
    g = Graph(target="xylo")
    g.add("x", Input(3))
    g.add("pop", XyloIAF(4, threshold=7, dash_syn=np.ones((4, 2))))
    g.add("ro", XyloIAF(2, threshold=5, dash_syn=np.ones((2, 1)), max_spikes=1))
    g.add("win2", Synapse(np.full((4, 3), 5), 1, 0, 1), ["x"])  # port 1 only
    g.connect("win2", "pop")
    g.add("wout", Synapse(np.full((2, 4), -3), 2, 1), ["pop"])
    g.connect("wout", "ro")
    g.add("y", Output(2), ["ro"])
    p = xylo.params_from_graph(g)
    assert p["w_rec"].shape == (4, 4, 2) and not p["w_rec"].any()
    assert not p["w_in"][:, :, 0].any() and (p["w_in"][:, :, 1] == 5).all()
    assert (p["weight_shift_in"], p["weight_shift_rec"], p["weight_shift_out"]) == (1, 0, 2)
    assert p["w_out"].shape == (4, 2) and (p["w_out"] == -3).all()


def other_shape(kind):
    """A xylo graph that xylosim's single layer cannot hold; returns (graph, node to be named)."""
    g = xylo.graph_from_xylo(np.ones((2, 3, 1), int), np.ones((3, 3, 1), int), np.ones((3, 2), int), 10, 10)
    if kind == "third population":
        g.add("extra", XyloIAF(2, threshold=3, dash_syn=np.zeros((2, 1))))
        g.add("w_extra", Synapse(np.ones((2, 2), int), 0, 0), ["input"])
        g.connect("w_extra", "extra")
        return g, "extra"
    if kind == "input to readout":
        g.add("w_skip", Synapse(np.ones((2, 2), int), 0, 0), ["input"])
        g.connect("w_skip", "readout")
        return g, "w_skip"
    if kind == "two synapses on one port":
        g.add("w_in_again", Synapse(np.ones((3, 2), int), 0, 0), ["input"])
        g.connect("w_in_again", "hidden")
        return g, "w_in_again"
    if kind == "readout spikes 31":
        g.nodes["readout"].max_spikes = 31
        return g, "readout"
    g.add("w_rec_b", Synapse(np.ones((3, 3), int), 0, 1, 0), ["hidden"])  # port 0 is w_rec's already
    g.connect("w_rec_b", "hidden")
    return g, "w_rec_b"


@pytest.mark.parametrize("kind", ["third population", "input to readout", "two synapses on one port",
                                  "readout spikes 31", "second recurrent synapse on port 0"])
def test_params_from_graph_names_the_node_of_another_shape(kind):
    graph, node = other_shape(kind)
    with pytest.raises(GraphError) as info:
        xylo.params_from_graph(graph)
    assert f"'{node}'" in str(info.value) and "\n" not in str(info.value)
