"""`snnc demo`: the whole job on the embedded default, scikit-learn's digits.

1. train `configs/digits_loihi.toml` (rate-coded digits, a decay and reset Loihi
   runs), compile its posterior mean and K = 8 posterior samples for `loihi`,
   verify both against the event simulator, the dense reference and Lava;
2. train `configs/digits_seq_xylo.toml` (row-sequential digits 0-7, <= 16 input
   channels, Xylo's bit-shift decays), compile for `xylo`, verify against
   the reference, ONNX and xylosim on the whole test split;
3. beside each job, the non-spiking int8 MLP of the same accuracy on `edge-int8`
   (`evaluation/dense_baseline.py`: width chosen on validation, a few seconds);
4. compile the spiking conv SBNN of `configs/digits_conv_loihi.toml` (a residual spike-add
   block and a downsampling shortcut, Loihi's LIF) for `loihi`, verify it against Lava on 100
   test samples and ONNX on the whole split; its checkpoint ships in `configs/trained/` (its
   sha256 checked: training takes 8-15 minutes here), `--train-conv` trains it afresh;
5. print one summary table (float and deployed accuracy, agreement, energy per
   inference, latency; under each job the dense baseline and which side wins on
   energy) and write JSON reports and PNG plots under --out.
"""
from __future__ import annotations

from pathlib import Path

from snnc.args import ArgumentParser
from snnc.errors import BackendUnavailable
from snnc.io import write_json
from snnc.targets import get as get_target

CONFIGS = Path(__file__).resolve().parents[2] / "configs"   # the repository's configs/
JOBS = (  # (name, config, target, mode, k, samples its chip's own executor runs)
    ("loihi-mean", "digits_loihi.toml", "loihi", "mean", 1, 100),
    ("loihi-k8", "digits_loihi.toml", "loihi", "samples", 8, 100),
    ("xylo-mean", "digits_seq_xylo.toml", "xylo", "mean", 1, 10_000),
    ("loihi-conv", "digits_conv_loihi.toml", "loihi", "mean", 1, 100),
)
SHIPPED = {"digits_conv_loihi.toml": CONFIGS / "trained" / "digits_conv_loihi"}   # .pt and .json beside


def cmd_demo(argv: list[str]) -> int:
    parser = ArgumentParser(prog="snnc demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/demo", help="folder for checkpoints, graphs, reports, plots")
    parser.add_argument("--epochs", type=int, help="override the configs' epochs (a quick look)")
    parser.add_argument("--samples", type=int, help="cap the samples run on each chip's own executor (the "
                        "first its target names: Lava, xylosim; ONNX runs all)")
    parser.add_argument("--no-external", action="store_true", help="skip each chip's own executor")
    parser.add_argument("--train-conv", action="store_true", help="train the conv net (8-15 min) instead of "
                        "compiling the checkpoint shipped in configs/trained/")
    args = parser.parse_args(argv)
    out = Path(args.out)
    rows, ckpts, grids = [], {}, {}
    for name, config, target, mode, k, samples in JOBS:
        backend = next(iter(get_target(target).executors))   # the chip's own: Lava, xylosim
        if config not in ckpts and config in SHIPPED and not args.train_conv:
            ckpts[config] = _shipped(SHIPPED[config])
        elif config not in ckpts:
            ckpts[config] = _train(CONFIGS / config, out / config.removesuffix(".toml"), args.epochs)
        backends = ["sim", "reference", "onnx"] + ([] if args.no_external else [backend])
        n = min(samples, args.samples) if args.samples else samples
        rows.append(_compile_and_verify(name, ckpts[config], target, mode, k, backends, {backend: n}, out))
        rows[-1]["dense_int8"] = _dense_baseline(rows[-1], CONFIGS / config, grids, out / f"{name}.dense.snnc")
    _print_table(rows)
    write_json(out / "summary.json", rows)
    print(f"\nsummary: {out / 'summary.json'}; reports and plots in {out}/")
    return 0 if all(r["agreement_ok"] for r in rows) else 1


def _train(config: Path, run_dir: Path, epochs: int | None) -> Path:
    from snnc.train import config as config_mod
    from snnc.train.trainer import run

    cfg = config_mod.load(config)
    if epochs:
        cfg.train.epochs = epochs
    print(f"\n=== train {config.name} -> {run_dir} ===")
    summary = run(cfg, run_dir)
    print(f"posterior-mean test accuracy {summary['test_accuracy']:.4f} in {summary['seconds']:.0f} s")
    return run_dir / "checkpoint.pt"


def _shipped(stem: Path) -> Path:
    """A checkpoint shipped with the repository, after its sha256 matches the record beside it."""
    import json

    from snnc.errors import InputError
    from snnc.train.checkpoint import file_sha256

    record = json.loads(stem.with_suffix(".json").read_text())
    ckpt = stem.with_suffix(".pt")
    digest = file_sha256(ckpt)
    if digest != record["sha256"]:
        raise InputError(f"{ckpt}: sha256 {digest[:12]}... is not the {record['sha256'][:12]}... its record names")
    print(f"\n=== shipped {ckpt.name}: {record['config']}, {record['trained']['epochs']} epochs, posterior-mean test "
          f"accuracy {record['trained']['test_accuracy']:.4f} when trained ({record['command']})")
    return ckpt


def _compile_and_verify(name, ckpt, target, mode, k, backends, samples, out: Path) -> dict:
    from snnc.cli.plots import plot_report
    from snnc.cli.report import print_compile_report, print_verify
    from snnc.evaluation.compiled import compile_checkpoint
    from snnc.compiler.ir import save
    from snnc.runtime import deploy
    from snnc.evaluation.datasets import load_split
    from snnc.runtime.per_inference import energy
    from snnc.evaluation.verify import verify

    print(f"\n=== compile {name}: {ckpt} -> {target}, mode {mode}" + (f", K = {k}" if mode == "samples" else ""))
    compiled = compile_checkpoint(ckpt, target, mode, k)
    save(compiled.graph, out / f"{name}.snnc")
    write_json(out / f"{name}.report.json", compiled.report)
    print_compile_report(compiled.report)
    print(f"--- verify {name}: {', '.join(backends)}")
    try:
        report = verify(compiled.graph, compiled.graph.metadata["data"], ckpt, backends, samples)
    except BackendUnavailable as exc:
        print(f"external check skipped: {exc}")
        report = verify(compiled.graph, compiled.graph.metadata["data"], ckpt, backends[:3], samples)
    write_json(out / f"{name}.verify.json", report)
    print_verify(report)
    x, _ = load_split(compiled.graph.metadata["data"], "test", limit=8)
    _, result = deploy.run(compiled.graph, x)
    plot_report(result, out / f"{name}.png", per_inference=energy(compiled.graph, result.spikes), title=name,
                read_step=deploy.output_node(compiled.graph)[1].step)
    return _row(name, compiled.report, report)


def _dense_baseline(row: dict, config: Path, grids: dict, save_to: Path) -> dict:
    """The same-accuracy dense int8 net on edge-int8 beside a job (one width grid per data set)."""
    from snnc.evaluation.dense_baseline import WidthGrid, analog_data, beside, config_data

    data = config_data(config)
    grid = grids.setdefault(config.name, WidthGrid(analog_data(data)))
    requested = row["float_sampled"] if row["mode"] == "samples" else row["float"]
    return beside({"energy_per_inference_j": row["energy_per_inference_j"], "deployed_accuracy": row["deployed"]},
                  data, grid, row["target"], requested, save_to)


def _row(name, compiled: dict, v: dict) -> dict:
    acc = compiled["accuracy"]
    return {"job": name, "target": compiled["target"], "mode": compiled["mode"], "k": compiled["k"],
            "float": v["float_accuracy"],
            "float_sampled": v["float_accuracy_sampled"], "target_dynamics": acc["target_dynamics"]["accuracy"],
            "deployed": v["deployed"]["sim"], "agreement": v["agreement"],
            "agreement_samples": v.get("agreement_samples", {}),
            "agreement_ok": all(a == 1.0 for a in v["agreement"].values()),
            "energy_per_inference_j": v["energy_per_inference_j"]["mean"],
            "energy_per_inference_std_j": v["energy_per_inference_j"]["std"],
            "energy_estimated_terms": v["estimates"],
            "synaptic_events_per_inference": v["synaptic_events_per_inference"],
            "spikes_per_inference": v["spikes_per_inference"],
            "latency_steps": v["latency_steps"], "latency_s": v.get("latency_s"), "steps": v["steps"],
            "deployed_ece": acc["deployed"]["ece"], "deployed_nll": acc["deployed"]["nll"]}


def _print_table(rows) -> None:
    print("\n=== summary (test split; float = PyTorch posterior mean, or the K-sample ensemble) ===")
    print(f"{'job':<11}{'float':>7}{'deployed':>9}  {'agreement (samples)':<62}{'energy/inf':>11}{'std':>10}"
          f"{'syn ev/inf':>11}{'latency':>9}{'at dt':>10}")
    for r in rows:
        agree = ", ".join(f"{b} {a:.3f} ({r['agreement_samples'][b]})" for b, a in r["agreement"].items())
        flt = r["float_sampled"] if r["mode"] == "samples" else r["float"]
        print(f"{r['job']:<11}{flt:>7.4f}{r['deployed']:>9.4f}  {agree:<62}"
              f"{r['energy_per_inference_j']:>9.3g} J{r['energy_per_inference_std_j']:>8.2g} J"
              f"{r['synaptic_events_per_inference']:>11.0f}{r['latency_steps']:>6} st{_seconds(r['latency_s'])}")
        if "dense_int8" in r:
            from snnc.evaluation.dense_baseline import summary_line
            print(summary_line(r["dense_int8"], r["target"]))
    print("energy: dynamic energy per inference (mean, std over the test split) from each target's table; "
          "`snnc targets` lists each constant's source and which are estimates; dense int8: the "
          "smallest one-hidden-layer ReLU MLP whose validation accuracy reaches the job's float accuracy "
          "(- 0.5 point), deployed on edge-int8 (its energy: Horowitz 45 nm arithmetic and memory reads "
          "only, no MCU control or leakage: an upper bound on the dense side's advantage; each row's "
          "break_even_j_per_mac in summary.json says what a whole MCU may spend per MAC before the chip wins)")


def _seconds(s) -> str:
    return f"{'-':>10}" if s is None else f"{s * 1e3:>7.3g} ms"
