"""Random graphs for property tests: parameters span the whole legal range,
so wraps, clips, saturation and negative exponents are exercised."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse
from snnc.targets import loihi, xylo

EDGE_DECAYS = [0, 1, 4095, 4094]


@st.composite
def lava_layers(draw, max_layers=3, max_size=12, max_inputs=10):
    """Lava-named layer dicts, including weights beyond 8 bits and extreme params."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_in = draw(st.integers(1, max_inputs))
    sizes = [n_in] + [draw(st.integers(1, max_size)) for _ in range(draw(st.integers(1, max_layers)))]
    layers = []
    for k in range(1, len(sizes)):
        w_max = draw(st.sampled_from([3, 255, 600, 2**20]))
        sign = draw(st.sampled_from(["mixed", "exc", "inh"]))
        w = rng.integers(-w_max, w_max + 1, (sizes[k], sizes[k - 1]))
        w = np.abs(w) if sign == "exc" else -np.abs(w) if sign == "inh" else w
        layers.append(dict(
            weights=w, weight_exp=draw(st.integers(-8, 7)),
            du=draw(st.sampled_from(EDGE_DECAYS + [int(rng.integers(0, 4096))])),
            dv=draw(st.sampled_from(EDGE_DECAYS + [int(rng.integers(0, 4096))])),
            vth=draw(st.sampled_from([0, 1, 100, 2**17 - 1, int(rng.integers(0, 2**17))])),
            bias_mant=rng.integers(-4096, 4096, sizes[k]) * draw(st.sampled_from([0, 1])),
            bias_exp=draw(st.sampled_from([0, 7, int(rng.integers(0, 8))]))))
    return layers, n_in, seed


def binary_input(seed, B, T, n, density):
    rng = np.random.default_rng(seed + 1)
    return (rng.random((B, T, n)) < density).astype(np.int64)


@st.composite
def xylo_params(draw, max_hidden=20):
    """xylosim-named parameters: int8 weights, shifts, dashes, thresholds incl. tiny ones."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n_hid, n_out = draw(st.integers(1, 16)), draw(st.integers(1, max_hidden)), draw(st.integers(1, 8))
    n_syn = draw(st.sampled_from([1, 2]))
    density = draw(st.sampled_from([0.2, 0.6, 1.0]))
    w = lambda *shape: rng.integers(-128, 128, shape) * (rng.random(shape) < density)  # noqa: E731
    th_hi = draw(st.sampled_from([2, 50, 2000, 32767]))
    return dict(
        w_in=w(n_in, n_hid, n_syn), w_rec=w(n_hid, n_hid, n_syn), w_out=w(n_hid, n_out),
        threshold=rng.integers(1, th_hi + 1, n_hid), threshold_out=rng.integers(1, th_hi + 1, n_out),
        bias=rng.integers(-300, 300, n_hid) * draw(st.sampled_from([0, 1, 100])) // 100,
        bias_out=rng.integers(-300, 300, n_out),
        weight_shift_in=draw(st.integers(0, 7)), weight_shift_rec=draw(st.integers(0, 7)),
        weight_shift_out=draw(st.integers(0, 7)),
        dash_mem=rng.integers(0, 16, n_hid), dash_mem_out=rng.integers(0, 16, n_out),
        dash_syn=rng.integers(0, 16, (n_hid, n_syn)), dash_syn_out=rng.integers(0, 16, (n_out, 1)),
    )


def xylo_fanout_ok(p):
    """Xylo's fan-out rule holds: at most 64 recurrent targets per hidden neuron and port
    (inputs may reach every hidden neuron; readout weights do not count)."""
    return np.count_nonzero(p["w_rec"], axis=1).max(initial=0) <= xylo.LIMITS["fan_out"]


def recurrent_loihi_graph(seed: int, n_in: int = 6, n: int = 9) -> Graph:
    """input -> dense -> lif with a recurrent Dense on lif (delay 1), then a readout layer."""
    rng = np.random.default_rng(seed)
    g = Graph(target="loihi")
    g.add("input", Input(n_in))
    g.add("dense0", Synapse(loihi.effective_weights(rng.integers(-300, 300, (n, n_in))), 1, 1), ["input"])
    g.add("lif0", LoihiLIF(n, du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n),
                           vth=rng.integers(0, 200, n), bias_mant=rng.integers(-50, 50, n)), ["dense0"])
    g.add("rec0", Synapse(loihi.effective_weights(rng.integers(-200, 200, (n, n))), -1, 1), ["lif0"])
    g.connect("rec0", "lif0")
    g.add("dense1", Synapse(loihi.effective_weights(rng.integers(-100, 300, (3, n))), 0, 1), ["lif0"])
    g.add("lif1", LoihiLIF(3, du=100, dv=4095, vth=20), ["dense1"])
    g.add("output", Output(3), ["lif1"])
    return g


def random_lava_case(rng: np.random.Generator, max_layers=3, max_size=24, max_inputs=20, steps=40):
    """One Lava chain and its binary input, with parameters drawn from the whole
    legal range and biased toward the edges (wrap, clip, truncation)."""
    n_in = int(rng.integers(1, max_inputs + 1))
    sizes = [n_in] + list(rng.integers(1, max_size + 1, int(rng.integers(1, max_layers + 1))))
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    layers = []
    for n_pre, n_post in zip(sizes[:-1], sizes[1:]):
        w_max = pick([3, 255, 600, 2**20])
        w = rng.integers(-w_max, w_max + 1, (int(n_post), int(n_pre)))
        sign = pick(["mixed", "mixed", "exc", "inh"])
        w = np.abs(w) if sign == "exc" else -np.abs(w) if sign == "inh" else w
        layers.append(dict(
            weights=w, weight_exp=int(rng.integers(-8, 8)),
            du=pick(EDGE_DECAYS + [int(rng.integers(0, 4096))]), dv=pick(EDGE_DECAYS + [int(rng.integers(0, 4096))]),
            vth=pick([0, 1, 100, 2**17 - 1, int(rng.integers(0, 2**17))]),
            bias_mant=rng.integers(-4096, 4096, int(n_post)) * pick([0, 1]),
            bias_exp=pick([0, 7, int(rng.integers(0, 8))])))
        if rng.random() < 0.4:  # a recurrent Dense on this layer
            w_rec = pick([3, 255, 600])
            layers[-1].update(rec_weights=rng.integers(-w_rec, w_rec + 1, (int(n_post), int(n_post))),
                              rec_weight_exp=int(rng.integers(-8, 8)))
    density = pick([0.05, 0.3, 1.0])
    return layers, n_in, (rng.random((steps, n_in)) < density).astype(np.int64)
