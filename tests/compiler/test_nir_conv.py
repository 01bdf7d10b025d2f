"""NIR Conv2d, SumPool2d, AvgPool2d and Flatten: the NIR paper's sinabs CNN (cnn_sinabs.nir) on
`ideal` equals a numpy reference of NIR's semantics written here, spike for spike; pools without a
weight layer after them, average pools, groups and 'same' padding; one-line refusals."""
from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

from snnc.compiler.frontend.nir_graph import graph_from_nir, read_nir
from snnc.errors import CompileError
from snnc.runtime import simulate
from tests.backends import fresh_seed

CNN = Path(__file__).resolve().parent.parent / "data" / "nir" / "cnn_sinabs.nir"


def _correlate(x, w, stride, padding, dilation, groups):
    """NIR/PyTorch Conv2d of one image x (C, H, W): correlation, zero padding; float64."""
    if isinstance(padding, str):   # 'same' at stride 1 (odd kernels here), 'valid'
        padding = [(k - 1) // 2 if padding == "same" else 0 for k in w.shape[2:]]
    (sh, sw), (ph, pw), (dh, dw) = (np.broadcast_to(np.asarray(v).reshape(-1), (2,)) for v in (stride, padding, dilation))
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    c_out, c_in_g, kh, kw = w.shape
    ho = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((c_out, ho, wo))
    for o in range(c_out):
        g = o // (c_out // groups)
        for y in range(ho):
            for xx in range(wo):
                win = xp[g * c_in_g:(g + 1) * c_in_g, y * sh: y * sh + dh * (kh - 1) + 1: dh,
                         xx * sw: xx * sw + dw * (kw - 1) + 1: dw]
                out[o, y, xx] = np.sum(win * w[o])
    return out


def _pool(x, kernel, stride, mode):
    k, s = int(np.asarray(kernel).reshape(-1)[0]), int(np.asarray(stride).reshape(-1)[0])
    c, h, w = x.shape
    out = np.array([[[x[ch, y * s:y * s + k, xx * s:xx * s + k].sum() for xx in range((w - k) // s + 1)]
                     for y in range((h - k) // s + 1)] for ch in range(c)], np.float64)
    return out if mode == "sum" else out / (k * k)


def nir_reference(ng, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run a feed-forward NIR graph of Conv2d/SumPool2d/AvgPool2d/Flatten/Affine/IF nodes on spikes x
    [T, N]: per step every node in graph order; IF: v <- v + r I (float32 state), spike where
    v > v_threshold, v <- v_reset. Returns each IF's spikes [T, n]."""
    order, preds = _topological(ng)
    shape = tuple(int(v) for v in ng.nodes["input"].input_type["input"])
    v = {n: np.zeros(int(np.prod(np.shape(ng.nodes[n].r))), np.float32) for n in order if _kind(ng, n) == "IF"}
    out = {n: [] for n in v}
    for t in range(x.shape[0]):
        val = {"input": x[t].astype(np.float64).reshape(shape)}
        for n in order[1:]:
            node, a = ng.nodes[n], val[preds[n]]
            kind = _kind(ng, n)
            if kind == "Conv2d":
                y = _correlate(a, node.weight, node.stride, node.padding, node.dilation, int(node.groups))
                val[n] = y + np.asarray(node.bias).reshape(-1, 1, 1)
            elif kind in ("SumPool2d", "AvgPool2d"):
                val[n] = _pool(a, node.kernel_size, node.stride, "sum" if kind == "SumPool2d" else "avg")
            elif kind == "Flatten":
                val[n] = a.reshape(-1)
            elif kind == "Affine":
                val[n] = node.weight @ a.reshape(-1) + node.bias
            elif kind == "IF":
                r, thr = (np.asarray(p, np.float64).reshape(-1) for p in (node.r, node.v_threshold))
                v[n] = (v[n] + (r * a.reshape(-1)).astype(np.float32)).astype(np.float32)
                s = v[n] > thr
                v[n][s] = np.asarray(node.v_reset, np.float32).reshape(-1)[0]
                out[n].append(s.astype(np.int64))
                val[n] = s.astype(np.float64).reshape(a.shape)
            else:
                val[n] = a
    return {n: np.array(s) for n, s in out.items()}


def _kind(ng, n):
    return type(ng.nodes[n]).__name__


def _topological(ng):
    preds = {d: s for s, d in ng.edges}
    order, seen = [], set()
    def visit(n):
        if n not in seen:
            seen.add(n)
            if n in preds:
                visit(preds[n])
            order.append(n)
    for n in ng.nodes:
        visit(n)
    return order, preds


def test_cnn_sinabs_on_ideal_equals_the_nir_reference():
    ng = read_nir(CNN)
    graph = graph_from_nir(ng, dt=1e-3)
    rng = np.random.default_rng(fresh_seed())
    x = (rng.random((3, 25, 2 * 34 * 34)) < rng.uniform(0.03, 0.15)).astype(np.int64)
    res = simulate(graph, x)
    for b in range(x.shape[0]):
        want = nir_reference(ng, x[b])
        for pop, spikes in want.items():
            assert spikes.sum() > 0 or pop == "12", f"population {pop} never spiked: a vacuous comparison"
            np.testing.assert_array_equal(res.spikes[pop][b], spikes, err_msg=f"sample {b} population {pop}")


def _small_net(pool="AvgPool2d", pool_kernel=2, groups=2, padding="same", then="conv"):
    rng = np.random.default_rng(3)
    pool_node = getattr(nir, pool)(kernel_size=np.array([pool_kernel] * 2), stride=np.array([pool_kernel] * 2),
                                   padding=np.array([0, 0]))
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
             "c0": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0, 0.8, (4, 2 // groups, 3, 3)), stride=1,
                              padding=padding, dilation=1, groups=groups, bias=rng.normal(0, 0.1, 4)),
             "if0": nir.IF(r=np.ones((4, 6, 6)), v_threshold=np.ones((4, 6, 6)), v_reset=np.zeros((4, 6, 6))),
             "pool": pool_node}
    if then == "conv":
        nodes["c1"] = nir.Conv2d(input_shape=(6 // pool_kernel,) * 2, weight=rng.normal(0, 1, (3, 4, 2, 2)), stride=1,
                                 padding=0, dilation=1, groups=1, bias=np.zeros(3))
        n1 = 3 * (6 // pool_kernel - 1) ** 2
    else:   # the pool straight into neurons
        n1 = 4 * (6 // pool_kernel) ** 2
    nodes["if1"] = nir.IF(r=np.ones(n1), v_threshold=np.full(n1, 0.5), v_reset=np.zeros(n1))
    nodes["output"] = nir.Output(output_type={"output": np.array([n1])})
    chain = ["input", "c0", "if0", "pool"] + (["c1"] if then == "conv" else []) + ["if1", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])), type_check=False)   # nir's check forgets groups


@pytest.mark.parametrize("pool, then", [("AvgPool2d", "conv"), ("SumPool2d", "conv"), ("AvgPool2d", "if")])
def test_pools_groups_and_same_padding_equal_the_reference(pool, then):
    ng = _small_net(pool=pool, then=then)
    graph = graph_from_nir(ng, dt=1e-3)
    rng = np.random.default_rng(fresh_seed())
    x = (rng.random((2, 15, 72)) < 0.4).astype(np.int64)
    res = simulate(graph, x)
    for b in range(2):
        for pop, spikes in nir_reference(ng, x[b]).items():
            assert spikes.sum() > 0
            np.testing.assert_array_equal(res.spikes[pop][b], spikes)


def test_a_pool_that_does_not_tile_is_refused_in_one_line():
    ng = _small_net()
    ng.nodes["pool"].stride = np.array([1, 1])   # overlapping 2 x 2 windows
    with pytest.raises(CompileError, match="NIR node 'pool'.*tile") as exc:
        graph_from_nir(ng, dt=1e-3)
    assert "\n" not in str(exc.value)
