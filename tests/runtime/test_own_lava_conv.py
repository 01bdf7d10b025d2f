"""An independent Lava run of loihi conv graphs: `own_lava_conv.py` builds Lava's Conv, Dense and LIF
processes from the nodes' documented fields alone (compiler/ir/conv.py, targets/loihi/lif.py: the
correlation kernel, weight_exp as a pre-shift, (C, H, W) channel-major images), with image
populations as LIFs of shape (W, H, C), not snnc's Lava executor; its spikes equal the simulator's
at every step. Random conv nets (wraps, saturation, negative exponents, residual adds), one Lava
process run per graph."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from snnc.compiler.ir import Conv2d, Graph, Synapse
from snnc.runtime import simulate
from snnc.targets.loihi import lava_exec
from tests.backends import fresh_seed, require
from tests.runtime.test_lava_conv import _batch, conv_net

SCRIPT = Path(__file__).with_name("own_lava_conv.py")
pytestmark = pytest.mark.lava


def node_fields(graph: Graph, spikes: np.ndarray) -> dict:
    """The graph's nodes as their documented fields (what own_lava_conv.py reads)."""
    (inp,) = graph.inputs
    pops = list(graph.neuron_order())
    shapes = {inp: (graph.nodes[inp].size,), **{p: (graph.nodes[p].size,) for p in pops}}
    for name, node in graph.of_type(Conv2d).items():
        shapes[graph.predecessors(name)[0]] = node.in_shape
        shapes[graph.successors(name)[0]] = node.out_shape
    out = {"n_pops": len(pops), "input_shape": np.array(shapes[inp]), "spikes": spikes}
    for k, p in enumerate(pops):
        node = graph.nodes[p]
        out.update({f"pop{k}__shape": np.array(shapes[p]),
                    **{f"pop{k}__{key}": np.asarray(getattr(node, key)).reshape(-1)[0] for key in ("du", "dv", "vth")},
                    **{f"pop{k}__{key}": np.broadcast_to(getattr(node, key), (node.size,)) for key in ("bias_mant", "bias_exp")}})
    syns = list(graph.of_type(Synapse).items())
    out["n_syn"] = len(syns)
    for j, (name, node) in enumerate(syns):
        src = graph.predecessors(name)[0]
        out.update({f"syn{j}__kind": np.array("conv" if isinstance(node, Conv2d) else "dense"),
                    f"syn{j}__src": -1 if src == inp else pops.index(src),
                    f"syn{j}__dst": pops.index(graph.successors(name)[0]),
                    f"syn{j}__weights": node.weights, f"syn{j}__weight_exp": node.weight_exp})
        if isinstance(node, Conv2d):
            out.update({f"syn{j}__{key}": np.array(getattr(node, key)) for key in
                        ("in_shape", "stride", "padding", "dilation", "groups")})
    return out


def own_lava_run(graph: Graph, spikes: np.ndarray, tmp: Path) -> dict:
    python = require("Lava", lava_exec.lava_python)
    np.savez(tmp / "nodes.npz", **node_fields(graph, spikes))
    done = subprocess.run([str(python), str(SCRIPT), str(tmp / "nodes.npz"), str(tmp / "out.npz")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp / "out.npz") as f:
        return {p: f[f"pop{k}"] for k, p in enumerate(graph.neuron_order())}


def test_my_own_lava_run_equals_the_simulator(tmp_path):
    for i, seed in enumerate((0, 4, fresh_seed())):
        rng = np.random.default_rng(seed)
        g = conv_net(rng)
        x = _batch(rng, g, batch=1, steps=12)[0]
        theirs = own_lava_run(g, x, tmp_path)
        ours = simulate(g, x).spikes
        for pop, spikes in theirs.items():
            bad = np.argwhere(spikes != ours[pop])
            assert bad.size == 0, f"seed {seed} {pop}: first difference at (t, n) {tuple(bad[0])}"
        if i == 0:
            assert all(ours[p].sum() > 0 for p in ("A", "B")), "too quiet to compare"
