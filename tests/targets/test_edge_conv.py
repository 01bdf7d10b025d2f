"""edge-int8's conv layers (compiler/ir/dense_conv.py, targets/edge_int8/conv.py) against code someone else
wrote: ConvGemm against LiteRT's reference CONV_2D (per-channel int8: zero points, padding SAME/VALID,
strides, requantisation, saturation) and AvgPool against its reference AVERAGE_POOL_2D (int8 rounding of
halves on both signs, windows cut by the padding), on random layers; the float forms against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.compiler.ir import Graph, Input, Output, load, save
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm, tflite_geometry
from snnc.errors import GraphError
from snnc.runtime import simulate
from snnc.targets.edge_int8 import conv as econv
from snnc.targets.edge_int8.tflite_conv import avg_pool, channel_major, conv2d, nhwc
from snnc.targets.edge_int8.tflite_export import prepared_multipliers
from snnc.targets.edge_int8.tflite_writer import Writer, schema
from tests.backends import fresh_seed, require


def _lite():
    from snnc.targets.edge_int8.tflite_exec import interpreter_module

    return require("LiteRT", interpreter_module)


def _run_tflite(content: bytes, x: np.ndarray) -> np.ndarray:
    lite = _lite()
    interp = lite.Interpreter(model_content=content, experimental_op_resolver_type=lite.OpResolverType.BUILTIN_REF)
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    interp.resize_tensor_input(inp["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x.astype(np.int8))
    interp.invoke()
    return interp.get_tensor(out["index"])


def _geometry(rng):
    c, h, w = (int(v) for v in (rng.integers(1, 5), rng.integers(3, 10), rng.integers(3, 10)))
    k = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
    return (c, h, w), k, tuple(int(v) for v in rng.integers(1, 4, size=2)), str(rng.choice(["same", "valid"]))


def random_conv_gemm(rng):
    """A ConvGemm whose multipliers are TFLite's for float32 scales; returns (node, in_scale, out_scale, filters)."""
    shape, k, stride, padding = _geometry(rng)
    c_out = int(rng.integers(1, 6))
    in_scale, out_scale = np.float32(rng.uniform(0.01, 0.1)), np.float32(rng.uniform(0.05, 2.0))
    filters = rng.uniform(0.001, 0.05, size=c_out).astype(np.float32)
    mult, shift = prepared_multipliers(in_scale, filters, out_scale)
    node = ConvGemm(rng.integers(-127, 128, size=(c_out, shape[0], *k)), in_shape=shape, stride=stride,
                    padding=padding, bias=rng.integers(-3000, 3000, size=c_out), multiplier=mult, shift=shift,
                    input_zero_point=int(rng.integers(-128, 128)), output_zero_point=int(rng.integers(-20, 21)))
    return node, in_scale, out_scale, filters


def test_conv_gemm_is_litert_reference_conv_2d():
    rng = np.random.default_rng(fresh_seed())
    saturated = 0
    for _ in range(25):
        node, in_scale, out_scale, filters = random_conv_gemm(rng)
        w = Writer(schema())
        c, h, wd = node.in_shape
        x_t = w.tensor("input", [1, h, wd, c], "INT8", scale=in_scale, zero_point=node.input_zero_point)
        y_t = conv2d(w, "conv", node, x_t, in_scale, out_scale, filters)
        x = rng.integers(-128, 128, size=(7, node.in_size))
        want = channel_major(_run_tflite(w.finish([x_t], [y_t]), nhwc(x, node.in_shape)))
        got = econv.conv_int(node, x)
        np.testing.assert_array_equal(got, want)
        saturated += int(np.any(np.abs(econv.conv_unclamped(node, x)) > 127))
    assert saturated > 0   # some layer saturated at the int8 clamp


def test_avg_pool_is_litert_reference_average_pool_2d():
    rng = np.random.default_rng(fresh_seed())
    halves = {1: 0, -1: 0}
    for _ in range(25):
        shape, k, stride, padding = _geometry(rng)
        node = AvgPool(in_shape=shape, kernel=k, stride=stride, padding=padding, integer_mode=True)
        zp, scale = int(rng.integers(-30, 31)), np.float32(0.05)
        w = Writer(schema())
        x_t = w.tensor("input", [1, *shape[1:], shape[0]], "INT8", scale=scale, zero_point=zp)
        y_t = avg_pool(w, "pool", node, x_t, scale, zp)
        x = rng.integers(-128, 128, size=(7, node.in_size))
        want = channel_major(_run_tflite(w.finish([x_t], [y_t]), nhwc(x, shape)))
        np.testing.assert_array_equal(econv.avg_pool_int(node, x), want)
        acc, count = econv.pool_sums(node, x)
        tie = (2 * (np.abs(acc) % count) == count) & (acc != 0)
        halves[1] += int(np.sum(tie & (acc > 0)))
        halves[-1] += int(np.sum(tie & (acc < 0)))
    assert halves[1] > 0 and halves[-1] > 0   # halves rounded on both signs


def _tflite_pads(node):
    """(top, bottom, left, right) of TFLite's SAME padding (the rest after the image)."""
    pads = []
    for n, k, s in zip(node.in_shape[1:], node.window, node.stride):
        out, before = tflite_geometry(n, k, s, node.padding)
        total = max((out - 1) * s + k - n, 0) if node.padding == "same" else 0
        pads += [before, total - before]
    return pads


def test_float_forms_equal_pytorch():
    rng = np.random.default_rng(fresh_seed())
    for _ in range(20):
        shape, k, stride, padding = _geometry(rng)
        wts = rng.normal(size=(3, shape[0], *k)).astype(np.float32)
        node = ConvGemm(wts, in_shape=shape, stride=stride, padding=padding, bias=rng.normal(size=3))
        x = rng.normal(size=(4, node.in_size)).astype(np.float32)
        t, b, l_, r = _tflite_pads(node)
        xt = torch.nn.functional.pad(torch.tensor(x.reshape(4, *shape), dtype=torch.float64), (l_, r, t, b))
        want = torch.nn.functional.conv2d(xt, torch.tensor(wts, dtype=torch.float64),
                                          torch.tensor(node.bias, dtype=torch.float64), stride=stride)
        np.testing.assert_allclose(econv.conv_float(node, x), want.numpy().reshape(4, -1), rtol=1e-5, atol=1e-5)
        pool = AvgPool(in_shape=shape, kernel=k, stride=stride, padding=padding)
        ones = torch.nn.functional.pad(torch.ones(1, 1, *shape[1:], dtype=torch.float64), (l_, r, t, b))
        sums = torch.nn.functional.avg_pool2d(xt, k, stride, divisor_override=1)
        count = torch.nn.functional.avg_pool2d(ones, k, stride, divisor_override=1)
        np.testing.assert_allclose(econv.avg_pool_float(pool, x), (sums / count).numpy().reshape(4, -1), rtol=1e-5,
                                   atol=1e-6)


def test_conv_layers_run_in_the_dense_executor_and_round_trip(tmp_path):
    rng = np.random.default_rng(fresh_seed())
    node = random_conv_gemm(rng)[0]
    g = Graph("edge-int8")
    g.add("in", Input(node.in_size))
    g.add("conv", node, ["in"])
    pool = AvgPool(in_shape=node.out_shape, kernel=1, stride=1, integer_mode=True)
    g.add("pool", pool, ["conv"])
    g.add("out", Output(pool.out_size), ["pool"])
    x = rng.integers(-128, 128, size=(3, 1, node.in_size))
    r = simulate(load(save(g, tmp_path / "c.snnc")), x)
    np.testing.assert_array_equal(r.state["pool"]["v"][:, 0], econv.conv_int(node, x[:, 0]))
    assert r.stats["conv"]["macs"] == 3 * node.weights[0].size * node.out_size


@pytest.mark.parametrize("kw, says", [(dict(padding="full"), "padding 'full' unknown"),
                                      (dict(in_shape=(2, 4, 4)), "take 1 channels"),
                                      (dict(weights=np.full((1, 1, 2, 2), 300)), "int8")])
def test_conv_gemm_refusals_are_one_line(kw, says):
    args = dict(weights=np.ones((1, 1, 2, 2), np.int64), in_shape=(1, 4, 4))
    args.update(kw)
    with pytest.raises(GraphError, match=says):
        ConvGemm(**args)
