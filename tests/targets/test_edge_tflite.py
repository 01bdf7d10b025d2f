"""edge-int8 as a .tflite model run by TFLite itself (LiteRT), and as a C array.

Random graphs run in snnc's dense executor and in LiteRT's reference kernels
(BUILTIN_REF, the reference executor: targets/edge_int8/spec.py REFERENCE_EXECUTOR); each
layer's integers must be equal. Binary graphs (per-channel weights, thresholds that
saturate, zero points); requantising int8 and int16 graphs (exact halves, negative
accumulators, saturation, shifts from -31 to left shifts at the edge of their headroom,
one-channel layers), whose layers TFLite runs as 1 x 1 CONV_2D. LiteRT is a declared
dependency: where it is missing these tests fail under SNNC_REQUIRE_BACKENDS=1
(tests/backends.py).
"""
import shutil
import subprocess

import numpy as np
import pytest

from snnc.compiler.ir import Graph, Input, Output
from snnc.compiler.ir.dense import PWL, Gemm, Relu, Step
from snnc.errors import CompileError
from snnc.runtime import deploy
from snnc.targets.edge_int8.arithmetic import quantize_multiplier
from tests.backends import fresh_seed, require


def lite():
    from snnc.targets.edge_int8 import tflite_exec
    return require("LiteRT (ai-edge-litert)", tflite_exec.interpreter_module) and tflite_exec


def multipliers(rng, n, lo=-31, hi=30):
    """TFLite multipliers of random float32 scales: 24 significant bits, shifts in [lo, hi]."""
    pairs = [quantize_multiplier(float(np.float32(rng.uniform(0.5, 1.0) * 2.0 ** s)))
             for s in rng.integers(lo, hi + 1, n)]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def binary_graph(rng, sizes=(12, 9, 7, 4)) -> Graph:
    """Gemm -> Step twice, then the int32 readout: int8 input with a zero point."""
    g = Graph("edge-int8")
    g.add("input", Input(sizes[0]))
    g.metadata.update(steps=1, input_quant={"scale": 0.05, "zero_point": -17, "bits": 8})
    src = "input"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        zp = -17 if i == 0 else 0
        g.add(f"fc{i}", Gemm(rng.integers(-127, 128, (n_out, n_in)), rng.integers(-4000, 4000, n_out),
                             input_zero_point=zp, requantise=False), [src])
        g.add(f"step{i}", Step(n_out, rng.integers(-3000, 3000, n_out)), [f"fc{i}"])
        src = f"step{i}"
    g.add("readout", Gemm(rng.integers(-127, 128, sizes[-1:] + sizes[-2:-1]), rng.integers(-999, 999, sizes[-1]),
                          requantise=False), [src])
    g.add("output", Output(sizes[-1], read="v", gain=0.01), ["readout"])
    return g


def requantised_graph(rng, bits=8) -> Graph:
    """Requantising Gemms with a fused ReLU, a narrowed clamp, a Relu that needs its own op."""
    lo, hi = (-128, 127) if bits == 8 else (-32767, 32767)
    zp = int(rng.integers(-20, 20)) if bits == 8 else 0
    g = Graph("edge-int8")
    g.add("input", Input(10))
    g.metadata.update(steps=1, input_quant={"scale": 0.0371, "zero_point": zp, "bits": bits})
    m0, s0 = multipliers(rng, 8, -12, -2)
    g.add("fc0", Gemm(rng.integers(-127, 128, (8, 10)), rng.integers(-5000, 5000, 8), m0, s0, zp, zp,
                      zp, hi), ["input"])
    m1, s1 = multipliers(rng, 6, -31, 0)        # tiny scales (zeros) to 1 (saturation); no left shift:
    # TFLite computes acc * 2^left in int32 and overflows where edge-int8 saturates
    g.add("fc1", Gemm(rng.integers(-127, 128, (6, 8)), rng.integers(-5000, 5000, 6), m1, s1, zp, zp,
                      lo + 7, hi - 9), ["fc0"])
    g.add("relu1", Relu(6, zp + 3), ["fc1"])
    g.add("readout", Gemm(rng.integers(-127, 128, (3, 6)), rng.integers(-99, 99, 3), input_zero_point=zp,
                          requantise=False), ["relu1"])
    g.add("output", Output(3, read="v", gain=0.1), ["readout"])
    return g


def agree(g: Graph, x: np.ndarray, resolver: str) -> dict[str, bool]:
    _, sim = deploy.run(g, x, progress=False)
    out = lite().run(g, deploy.pad_input(g, x), resolver)
    return {n: bool(np.array_equal(out[n]["v"], np.asarray(sim.state[n]["v"]))) for n in out if "v" in out[n]}


def requantised_chain(rng, bits: int) -> Graph:
    """Requantising Gemms chained (int8 with zero points, or int16 with zero point 0), each with
    per-channel multipliers of one kind: left shifts up to each channel's headroom (small bias, so
    inputs near the zero point stay in range), exact powers of two (halves), tiny to ~1 (zeros,
    saturation); then the int32 readout."""
    lo, hi = (-128, 127) if bits == 8 else (-32767, 32767)
    zp = int(rng.integers(-20, 20)) if bits == 8 else 0
    g = Graph("edge-int8")
    g.add("input", Input(8))
    g.metadata.update(steps=1, input_quant={"scale": 0.0371, "zero_point": zp, "bits": bits})
    src, n_in, r = "input", 8, (lo, hi)
    for i, kind in enumerate(("left", "halves", "wide")):
        n_out = int(rng.choice([1, 7]))
        w, b = rng.integers(-127, 128, (n_out, n_in)), rng.integers(-5000, 5000, n_out) // (1 if i else 500)
        m, s = _multipliers(rng, kind, n_out, w, b, r, zp, bits)
        act_min = zp if rng.random() < 0.5 else lo + int(rng.integers(0, 9))
        act = (act_min, hi - int(rng.integers(0, 9)))
        g.add(f"fc{i}", Gemm(w, b, m, s, zp, zp, *act), [src])
        src, n_in, r = f"fc{i}", n_out, act
    g.add("readout", Gemm(rng.integers(-127, 128, (3, n_in)), rng.integers(-99, 99, 3), input_zero_point=zp,
                          requantise=False), [src])
    g.add("output", Output(3, read="v", gain=0.1), ["readout"])
    return g


def _multipliers(rng, kind, n, w, b, r, zp, bits):
    if kind == "halves":                                  # 2^-k: acc / 2^k lands on .5 often
        return multipliers_of(2.0 ** -rng.integers(1, 5, n))
    if kind == "wide":
        return multipliers(rng, n, -31, 0 if bits == 8 else -4)
    worst = np.abs(w).sum(axis=1) * max(abs(r[0] - zp), abs(r[1] - zp)) + np.abs(b)
    room = np.floor(np.log2(2**31 / worst)).astype(int)   # the largest shift whose product fits int32
    shift = np.where(np.arange(n) == 0, room, rng.integers(1, 4, n))   # channel 0 at the edge
    return multipliers_of(rng.uniform(0.5, 1.0, n).astype(np.float32) * 2.0 ** (np.minimum(shift, room) - 1))


def multipliers_of(scales) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(np.float32(v))) for v in scales]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def test_binary_graphs_agree_with_tflite_reference_kernels():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        g = binary_graph(rng)
        x = rng.integers(-128, 128, (300, 1, 12))
        result = agree(g, x, "BUILTIN_REF")
        assert set(result) == {"step0", "step1", "readout"}, result   # fc0, fc1: fused into their Step
        assert all(result.values()), f"seed {seed}: {result}"


@pytest.mark.parametrize("bits", [8, 16])
def test_requantised_graphs_agree_with_tflite_reference_kernels(bits):
    """Every layer equal in LiteRT's reference kernels; a third of the inputs near the zero point
    (small accumulators: exact halves, both signs), the rest over the whole range (saturation)."""
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    lo, hi = (-128, 127) if bits == 8 else (-32767, 32767)
    for _ in range(4):
        g = requantised_chain(rng, bits)
        zp = g.metadata["input_quant"]["zero_point"]
        x = rng.integers(lo, hi + 1, (600, 1, 8))
        x[:200] = np.clip(zp + rng.integers(-3, 4, (200, 1, 8)), lo, hi)
        result = agree(g, x, "BUILTIN_REF")
        assert set(result) == {"fc0", "fc1", "fc2", "readout"}, result
        assert all(result.values()), f"seed {seed}: {result}"


def test_quantize_multiplier_gives_back_every_layers_multiplier():
    """The weight scales written make TFLite's own QuantizeMultiplier reproduce each node's
    (multiplier, shift), channel by channel."""
    from snnc.targets.edge_int8.tflite_export import filter_scales, prepared_multipliers

    rng = np.random.default_rng(fresh_seed())
    for scale in (0.0371, 1.0, 3.3e-5, 117.0):
        g = requantised_graph(rng)
        for name in ("fc0", "fc1"):
            node = g.nodes[name]
            mult, shift = prepared_multipliers(scale, filter_scales(node), scale)
            assert np.array_equal(mult, node.multiplier) and np.array_equal(shift, node.shift)


def test_unreachable_multiplier_and_pwl_are_one_line():
    from snnc.targets.edge_int8.tflite_export import build

    g = requantised_graph(np.random.default_rng(3))
    node = g.nodes["fc1"]
    node.multiplier = node.multiplier.copy()
    node.multiplier[2] += 1                              # 31 significant bits
    with pytest.raises(CompileError, match=r"node 'fc1': channel 2's multiplier .* 24 significant bits"):
        build(g)
    p = Graph("edge-int8")
    p.add("input", Input(2))
    p.add("kan0", PWL(knots=[[0, 5, 9], [1, 2, 3]], values=np.ones((1, 2, 3), np.int64),
                      slopes=np.zeros((1, 2, 2), np.int64), requantise=False), ["input"])
    p.add("output", Output(1, read="v"), ["kan0"])
    with pytest.raises(CompileError, match=r"^node 'kan0': a PWL layer has no exact TFLite builtin form"):
        build(p)


def test_wide_accumulator_is_summed_exactly():
    """An int32 readout whose sums pass 2^24 (int16 input) is split over float32 parts and int32 adds."""
    rng = np.random.default_rng(fresh_seed())
    g = Graph("edge-int8")
    g.add("input", Input(6))
    g.metadata.update(steps=1, input_quant={"scale": 1e-4, "zero_point": 0, "bits": 16})
    g.add("readout", Gemm(rng.choice([-127, 127], (2, 6)), [2**23, -(2**22)], requantise=False), ["input"])
    g.add("output", Output(2, read="v"), ["readout"])
    x = rng.choice([-32767, 32767], (50, 1, 6))
    assert agree(g, x, "BUILTIN_REF") == {"readout": True}


def test_c_array_compiles(tmp_path):
    from snnc.compiler.export import export

    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler on this machine"
    lite()
    g = binary_graph(np.random.default_rng(5))
    export(g, tmp_path / "model.c", "c")
    text = (tmp_path / "model.c").read_text()
    assert "resolver.AddFullyConnected();" in text and "Activation memory:" in text
    (tmp_path / "main.c").write_text('#include <stdio.h>\nextern const unsigned char snnc_model[];\n'
                                     'extern const unsigned int snnc_model_len;\n'
                                     'int main(void) { printf("%u %c%c%c%c", snnc_model_len, snnc_model[4], '
                                     'snnc_model[5], snnc_model[6], snnc_model[7]); return 0; }\n')
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-o", str(tmp_path / "m"), str(tmp_path / "model.c"),
                    str(tmp_path / "main.c")], check=True)
    out = subprocess.run([str(tmp_path / "m")], capture_output=True, text=True, check=True).stdout
    export(g, tmp_path / "model.tflite", "tflite")
    assert out == f"{(tmp_path / 'model.tflite').stat().st_size} TFL3"
