"""`snnc demo`: the main job on the embedded default, scikit-learn's digits.

1. trains the spiking Bayesian MLP of configs/digits_sbnn.toml (IW-ST, CPU);
2. simulates built-in integer networks on every hardware target, driven by
   the digits, reports spikes and energy, and checks them bit for bit against
   the dense reference, Lava and xylosim.

Compiling the trained checkpoint into those integer graphs is the compiler's
job (frontend and passes); until it lands the simulated networks are
fixed-seed random integer networks.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from snnc.errors import BackendUnavailable
from snnc.runtime.cli import print_summary
from snnc.runtime.report import plot_report, write_report
from snnc.runtime.simulate import simulate
from snnc.targets import loihi, xylo


def digits_spikes(n_samples: int, steps: int, channels: str = "pixels", seed: int = 0) -> np.ndarray:
    """Rate-coded digits [B, T, 64] (binary) or row-sequential [B, 8, 8] counts."""
    from sklearn.datasets import load_digits
    images = load_digits().images[:n_samples]
    if channels == "rows":
        return images.astype(np.int64)  # row = step, column = channel, intensity 0..16 = count
    rng = np.random.default_rng(seed)
    p = images.reshape(n_samples, 1, 64) / 16.0
    return (rng.random((n_samples, steps, 64)) < p).astype(np.int64)


def demo_loihi_layers(seed: int = 0) -> list[dict]:
    """64 -> 48 -> 10 LIF chain with Lava's parameter names."""
    rng = np.random.default_rng(seed)
    common = dict(du=1024, dv=256, bias_mant=0, bias_exp=0)
    return [dict(weights=rng.integers(-60, 100, (48, 64)), weight_exp=0, vth=10000, **common),
            dict(weights=rng.integers(-80, 120, (10, 48)), weight_exp=1, vth=4000, **common)]


def demo_xylo_params(seed: int = 0, n_hid: int = 32, n_out: int = 4) -> dict:
    """8-input recurrent Xylo population with two synaptic states."""
    rng = np.random.default_rng(seed)
    sparse = lambda *s: rng.integers(-40, 60, s) * (rng.random(s) < 0.3)  # noqa: E731
    return dict(w_in=sparse(8, n_hid, 2), w_rec=sparse(n_hid, n_hid, 2), w_out=sparse(n_hid, n_out),
                threshold=8000, threshold_out=4000, bias=0, bias_out=0, weight_shift_in=3,
                weight_shift_rec=3, weight_shift_out=3, dash_mem=2, dash_mem_out=2,
                dash_syn=np.tile([1, 3], (n_hid, 1)), dash_syn_out=1)


def cmd_demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="snnc demo", description=__doc__)
    parser.add_argument("--out", default="build/demo", help="folder for JSON reports and PNG plots")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--no-train", action="store_true", help="skip the training step")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not args.no_train:
        _train_digits(out / "train")
    layers = demo_loihi_layers()
    loihi_graph, loihi_x = loihi.graph_from_lava_layers(layers, 64), digits_spikes(args.samples, 32)
    xylo_p = demo_xylo_params()
    xylo_graph, xylo_x = xylo.graph_from_xylo(**xylo_p), digits_spikes(args.samples, 8, "rows")
    for name, graph, x in (("loihi", loihi_graph, loihi_x), ("xylo", xylo_graph, xylo_x)):
        print(f"\n=== {name}: {graph.summary()} on {x.shape[0]} digits ===")
        result = simulate(graph, x, record=("v",))
        print_summary(result)
        _check_reference(graph, x, result)
        write_report(result, out / f"{name}.json")
        plot_report(result, out / f"{name}.png")
        print(f"report {out / f'{name}.json'}, plot {out / f'{name}.png'}")
    _check_external("Lava", lambda: _lava_agrees(loihi_graph, layers, loihi_x[:2]))
    _check_external("xylosim", lambda: _xylosim_agrees(xylo_graph, xylo_p, xylo_x[:4]))
    return 0


def _train_digits(out: Path) -> None:
    config = Path(__file__).resolve().parent.parent / "configs" / "digits_sbnn.toml"
    if not config.is_file():
        print(f"training step skipped: {config} not found (run from a source checkout)")
        return
    print(f"=== train: spiking Bayesian MLP on digits ({config.name}) -> {out} ===")
    from snnc.train.cli import cmd_train
    cmd_train(["--config", str(config), "--out", str(out)])


def _check_reference(graph, x, result) -> None:
    ref = simulate(graph, x, record=("v",), engine="reference")
    same = all(np.array_equal(result.spikes[n], ref.spikes[n]) and
               np.array_equal(result.state[n]["v"], ref.state[n]["v"]) for n in graph.neurons)
    print(f"event-driven == dense reference (spikes and v, every step): {'yes' if same else 'NO'}")


def _check_external(name, check) -> None:
    try:
        print(f"snnc == {name} (spikes and v, every step): {'yes' if check() else 'NO'}")
    except BackendUnavailable as exc:
        print(f"{name} check skipped: {exc}")


def _lava_agrees(graph, layers, x) -> bool:
    from snnc.runtime.lava_exec import run_lava_chains
    outs = run_lava_chains([(layers, sample) for sample in x])
    ours = simulate(graph, x, record=("v",))
    return all(np.array_equal(ours.spikes[n][b], out[n]["spikes"]) and
               np.array_equal(ours.state[n]["v"][b], out[n]["v"])
               for b, out in enumerate(outs) for n in graph.neurons)


def _xylosim_agrees(graph, params, x) -> bool:
    from snnc.runtime.xylosim_exec import run_xylosim
    ref = run_xylosim(params, x)
    ours = simulate(graph, x, record=("v",))
    return all(np.array_equal(ours.spikes[n], ref[n]["spikes"]) and
               np.array_equal(ours.state[n]["v"], ref[n]["v"]) for n in ("hidden", "readout"))
