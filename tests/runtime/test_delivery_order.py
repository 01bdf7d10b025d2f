"""Delivery order is canonical (Graph.incoming): input, then other populations,
then recurrent, whatever the order in which edges were added. It matters on
Xylo because every synaptic add saturates: 15 input spikes of +16256 and then
31 recurrent spikes of -16384 end at -32768, the other way round at +32767."""
import numpy as np
import pytest

import snnc
from snnc.compiler.ir import Graph, Input, Output, Synapse, XyloIAF
from snnc.targets.xylo import xylosim_exec
from tests.backends import require


def recurrent_edge_first() -> Graph:
    """1 input -> 2 hidden (saturating input and inhibitory recurrent weights) -> 1 readout;
    the recurrent edge is added before the input edge."""
    g = Graph(target="xylo")
    g.add("x", Input(1))
    g.add("h", XyloIAF(2, threshold=[1, 3], dash_mem=1, dash_syn=np.array([[1], [4]])))
    g.add("r", XyloIAF(1, threshold=50, dash_syn=np.ones((1, 1)), max_spikes=1))
    g.add("rec", Synapse(np.array([[-128, -128], [-100, 0]]), 7, 1, 0), ["h"])
    g.connect("rec", "h")
    g.add("inp", Synapse(np.array([[127], [90]]), 7, 0, 0), ["x"])
    g.connect("inp", "h")
    g.add("out", Synapse(np.array([[3, -2]]), 0, 1, 0), ["h"])
    g.connect("out", "r")
    g.add("y", Output(1), ["r"])
    return g


def test_incoming_is_input_then_other_populations_then_recurrent():
    g = Graph(target="xylo")
    g.add("a", XyloIAF(1, dash_syn=np.zeros((1, 1))))
    g.add("b", XyloIAF(1, dash_syn=np.zeros((1, 1))))
    g.add("x", Input(1))
    for name, src in (("b_rec2", "b"), ("a_to_b", "a"), ("b_rec1", "b"), ("x_to_b2", "x"), ("x_to_b1", "x")):
        g.add(name, Synapse(np.ones((1, 1), int), 0, 0 if src == "x" else 1), [src])
        g.connect(name, "b")
    assert [s for s, _, _ in g.incoming("b")] == ["x_to_b2", "x_to_b1", "a_to_b", "b_rec2", "b_rec1"]


@pytest.mark.xylosim
def test_recurrent_edge_added_first_same_in_both_engines_and_xylosim():
    require("xylosim", xylosim_exec.xylosim_v2)
    g = recurrent_edge_first()
    x = np.array([[15], [15], [0], [15], [3], [0], [15], [15]])[None].repeat(2, axis=0)
    x[1, ::2] = 0
    ref = xylosim_exec.run_xylosim_graph(g, x)
    runs = {e: snnc.runtime.simulate(g, x, record=("v", "i_syn"), engine=e) for e in ("event", "reference")}
    assert all(r.stats["h"]["overflow_events"] > 0 for r in runs.values())  # saturating: order matters
    for engine, res in runs.items():
        for node in ("h", "r"):
            for var, mine in (("spikes", res.spikes[node]), ("v", res.state[node]["v"]),
                              ("i_syn", res.state[node]["i_syn"])):
                np.testing.assert_array_equal(mine, ref[node][var], err_msg=f"{engine}: {node}.{var}")


@pytest.mark.parametrize("engine", ["event", "reference"])
def test_edge_order_does_not_change_results(engine):
    g = recurrent_edge_first()
    swapped = Graph(target="xylo", nodes=dict(g.nodes), edges=list(reversed(g.edges)))
    x = np.array([[15], [15], [0], [15], [3]])
    a = snnc.runtime.simulate(g, x, record=("v", "i_syn"), engine=engine)
    b = snnc.runtime.simulate(swapped, x, record=("v", "i_syn"), engine=engine)
    for node in ("h", "r"):
        np.testing.assert_array_equal(a.spikes[node], b.spikes[node])
        np.testing.assert_array_equal(a.state[node]["i_syn"], b.state[node]["i_syn"])
