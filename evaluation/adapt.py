"""`snnc adapt`: fine-tune a trained checkpoint with the dynamics and the integer weights the
compiler deploys it with.

1. The checkpoint is compiled for the target; its mapped float graph (`Compiled.mapped`: the
   trained net with the chip's decays, reset, spikes per step and readout) gives the training
   config's dynamics (`chip_config`): what a config key cannot express is one note naming it.
2. The trained weights (posterior means and scales) start the fine-tuning
   (`snnc.train.adapt`), whose forward pass puts every weight on the grid the target's
   quantiser chose (`Target.weight_grid`), recompiled after every epoch.
3. Each epoch is compiled and its deployed accuracy measured on the validation split; the best
   is the adapted checkpoint. The test split is not read here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from snnc.compiler.compile import DEFAULT_CALIBRATION, compile_net
from snnc.compiler.frontend import float_net
from snnc.compiler.passes.base import readout_name
from snnc.compiler.passes.latency import path_delay
from snnc.errors import CompileError, InputError
from snnc.evaluation.datasets import load_split
from snnc.runtime import deploy
from snnc.targets import get as get_target
from snnc.targets.registry import resolve
from snnc.train import config as config_mod

# The rate regulariser of configs/digits_seq_xylo.toml (chosen there: without it Xylo's multi-spike
# neurons ran at ~0.9 spikes per neuron and step), added where the chip lets a net that was trained
# to one spike per step emit more and the checkpoint has none; on digits_seq_sbnn (classes 0-7,
# xylo, lr 1e-2, 150 epochs) it took deployed validation accuracy from 0.923 to 0.966.
MULTI_SPIKE_RATE = {"rate_weight": 1.0, "rate_target": 0.5}


def trained_layers(model_cfg, front=None) -> list[tuple[str, str, str]]:
    """(parameter, float-graph synapse, population it feeds) of every weight the compiler
    quantises, in the frontend's names (`compiler/frontend/checkpoint.py`, `resnet.py`; a resnet's
    `front`, its float graph, names the synapse into each conv unit)."""
    if model_cfg.name == "resnet":
        return resnet_layers(front)
    rows = []
    for i in range(len(model_cfg.hidden)):
        rows.append((f"fcs.{i}.weight", f"fc{i}", f"lif{i}"))
        if model_cfg.name == "srnn":
            rows.append((f"neurons.{i}.rec.weight", f"rec{i}", f"lif{i}"))
    return rows + [("readout.fc.weight", "fc_out", "readout")]


def resnet_layers(front) -> list[tuple[str, str, str]]:
    """The conv units of a resnet's float net (`front.layers`, its populations or step units):
    'stem' is the trained 'stem', 'b{i}_{k}' is 'blocks.{i}.unit{k}'; the first synapse into each
    stands for all (a unit fed by several spike sources holds one kernel on each). The readout,
    merged with the global-average pool, is left out."""
    rows = []
    for pop in front.layers:
        if pop == "stem" or pop.startswith("b"):
            block, unit = pop[1:].split("_") if pop != "stem" else (None, None)
            prefix = "stem" if block is None else f"blocks.{block}.unit{unit}"
            rows.append((f"{prefix}.conv.weight", front.graph.predecessors(pop)[0], pop))
    return rows


def unit_gains(state: dict) -> dict[str, np.ndarray]:
    """Per output channel, the gain the frontend folds into each conv weight of `state` (a
    "channel_positive" affine's softplus(scale_param); resnet conv units only): the grid's step
    over it is the trained weight's."""
    gains = {}
    for param in state:
        key = param.replace(".conv.weight", ".affine.scale_param")
        if param.endswith(".conv.weight") and key in state:
            gains[param] = np.logaddexp(0.0, state[key].detach().cpu().numpy().astype(np.float64))
    return gains


def _one(values, what: str) -> float | str:
    found = np.unique(np.concatenate([np.atleast_1d(v) for v in values]))
    if found.size != 1:
        raise CompileError(f"the target runs {found.size} different {what}s in one net; model.{what} "
                           "is one value for every hidden layer")
    return found[0].item()


def hidden_keys(mapped) -> dict:
    """model.beta, syn_beta, reset, max_spikes: the hidden neurons of the mapped graph."""
    pops = [node for name, node in mapped.neurons.items() if name != readout_name(mapped)]
    return {"beta": float(_one([p.beta for p in pops], "beta")),
            "syn_beta": float(_one([p.alpha for p in pops], "syn_beta")),
            "reset": str(_one([np.array([p.reset]) for p in pops], "reset")),
            "max_spikes": int(_one([np.array([p.max_spikes]) for p in pops], "max_spikes"))}


def readout_keys(mapped, model_cfg, notes: list) -> dict:
    """model.readout (and its constant): the trained readout that is the mapped one."""
    node = mapped.nodes[readout_name(mapped)]
    beta, alpha = float(np.max(node.beta)), float(np.max(node.alpha))
    if alpha == 0 and beta == 1:
        return {"readout": "mean"}
    if alpha == 0 and 0 < beta < 1:
        return {"readout": "leaky", "readout_tau": -1.0 / math.log(beta)}
    if alpha == 0:
        raise CompileError(f"readout: the target's readout decay {beta:g} has no trained form")
    if beta != 1:
        notes.append(f"readout: the target's readout has a synaptic state (alpha {alpha:g}) and a membrane "
                     f"decay {beta:g}; no trained readout has both: fine-tuned as 'cuba' (alpha {alpha:g}, "
                     f"no decay; was '{model_cfg.readout}')")
    return {"readout": "cuba", "readout_alpha": alpha}


def bias_keys(mapped, model_cfg, syn_beta: float, notes: list) -> dict:
    """model.bias = false where the target would run a hidden bias other than it was trained."""
    if not model_cfg.bias:
        return {}
    pops = [n for n in mapped.neurons if n != readout_name(mapped)]
    late = max(path_delay(mapped, n) for n in pops)
    if syn_beta > 0:
        why = f"with the target's synaptic state (syn_beta {syn_beta:g}) a bias has no compiled form"
    elif late > 0:
        why = f"the target's synapses delay the input by {late} step(s), during which a bias would act alone"
    else:
        return {}
    notes.append(f"model.bias: hidden biases dropped ({why}); fine-tuning learns without them")
    return {"bias": False}


def data_keys(cfg, target: str, notes: list) -> dict:
    """data.max_count: the chip's input cap, where the data set takes one (digits-seq)."""
    cap = get_target(target).input_cap
    if cap is None:
        return {}
    if cfg.data.name == "digits-seq":
        return {"max_count": min(cap, cfg.data.max_count or cap)}
    notes.append(f"data: {cfg.data.name} inputs are not capped in training (data.max_count is digits-seq's); "
                 f"the target clips counts above {cap}")
    return {}


def loss_keys(cfg, max_spikes: int, rate: dict, notes: list) -> dict:
    """loss.rate_weight, rate_target: `rate` where given, else the checkpoint's, or
    MULTI_SPIKE_RATE where the chip emits more spikes per step than the net was trained to."""
    keys = {k: v for k, v in rate.items() if v is not None}
    if keys or cfg.loss.rate_weight > 0 or max_spikes <= cfg.model.max_spikes:
        return keys
    notes.append(f"loss: rate_weight {MULTI_SPIKE_RATE['rate_weight']:g}, rate_target "
                 f"{MULTI_SPIKE_RATE['rate_target']:g} (the target emits up to {max_spikes} spikes per step, "
                 f"the net was trained to {cfg.model.max_spikes} and without a rate penalty)")
    return dict(MULTI_SPIKE_RATE)


def chip_config(compiled, cfg, target: str, epochs: int, lr: float | None,
                rate: dict | None = None) -> tuple[object, list[str]]:
    """(the checkpoint's config with the target's dynamics, notes on what changed and why);
    `rate`: loss.rate_weight / rate_target to use instead (None values: not given)."""
    notes: list[str] = []
    model = {}
    if compiled.mapped.neurons:   # a chip with neuron dynamics (edge-int8 runs the trained units as they are)
        model = hidden_keys(compiled.mapped)
        model.update(readout_keys(compiled.mapped, cfg.model, notes))
        model.update(bias_keys(compiled.mapped, cfg.model, model["syn_beta"], notes))
    raw = cfg.to_dict()
    changed = [f"model.{key}: {raw['model'].get(key)!r} -> {value!r}" for key, value in model.items()
               if raw["model"].get(key) != value]
    notes[:0] = changed
    raw["model"].update(model)
    raw["data"].update(data_keys(cfg, target, notes))
    raw["loss"].update(loss_keys(cfg, model.get("max_spikes", cfg.model.max_spikes), rate or {}, notes))
    raw["train"].update(epochs=int(epochs), lr=float(lr if lr is not None else cfg.train.lr))
    return config_mod.from_dict(raw), notes


def start_state(checkpoint, cfg, in_shape, n_classes: int) -> dict:
    """The trained weights (and posterior scales) that the adapted net keeps."""
    from snnc.train.build import make_model
    from snnc.train.checkpoint import load_model

    old, _ = load_model(checkpoint)
    own = make_model(cfg, tuple(in_shape), n_classes).state_dict()
    state = {k: v for k, v in old.state_dict().items() if k in own}
    missing = sorted(set(own) - set(state))
    if missing:
        raise CompileError(f"{checkpoint}: the adapted net needs {missing[0]}, which the checkpoint lacks")
    return state


def splits(cfg, data: dict | None, cap: int | None):
    """(train, val) TensorDatasets: the checkpoint's data set with the adapted config, or a
    user's file whose x_train is split as the trainer splits (stratified, data.val_fraction)."""
    import torch
    from torch.utils.data import TensorDataset

    from snnc.train.data import validation_split

    if data is None:
        parts = [load_split(dict(vars(cfg.data)), s) for s in ("train", "val")]
    else:
        x, y = load_split(data, "train")
        if y is None:
            raise InputError(f"{data['file']}: adapt trains on labels; the file has no y_train")
        if cap is not None and x.dtype.kind in "iu":
            x = np.minimum(x, cap)   # what the chip does with larger counts
        fit, val = validation_split(y, cfg.data.val_fraction)
        parts = [(x[fit], y[fit]), (x[val], y[val])]
    return [TensorDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)) for x, y in parts]


def accuracy_on(graph, x, y) -> float | None:
    if len(y) == 0:
        return None
    logits, _ = deploy.run(graph, x)
    return float(np.mean(np.argmax(logits, 1) == y))


def assessor(target: str, cfg, val_set, data: dict | None, calibrate: int, gains: dict):
    """assess(candidate) -> ({val_target_dynamics, val_deployed}, the grid of its weights);
    `gains`: `unit_gains` of the net, held fixed while it trains (`hold_gains`)."""
    grid_of = resolve(get_target(target).weight_grid)
    x = val_set.tensors[0].numpy().astype(np.int64 if cfg.data.encoding != "direct" else np.float32)
    y = val_set.tensors[1].numpy()

    def assess(candidate: Path):
        front = float_net(candidate, target=target)
        if data is not None:
            front.data = dict(data)
        c = compile_net(front, target, calibrate)
        scores = {"val_target_dynamics": accuracy_on(c.mapped, x, y), "val_deployed": accuracy_on(c.graph, x, y)}
        grid = grid_of(c, trained_layers(cfg.model, front))
        return scores, {p: (step / gains[p] if p in gains else step, lo, hi) for p, (step, lo, hi) in grid.items()}

    return assess


@dataclass
class Plan:
    """A fine-tuning ready to run: `fine_tune(plan.run, plan.assess, about=plan.about)`."""

    run: object          # snnc.train.adapt.Run: the net with the target's dynamics, its data, its folder
    assess: Callable     # candidate checkpoint -> (validation scores, weight grid)
    notes: list[str]     # what changed from the checkpoint's config, and why
    about: dict          # what summary.json records of where it came from


def prepare(checkpoint, target: str, epochs: int, out, *, lr: float | None = None, data: dict | None = None,
            calibrate: int = DEFAULT_CALIBRATION, rate_weight: float | None = None,
            rate_target: float | None = None) -> Plan:
    """Compile `checkpoint` for `target`, derive the adapted config and build the run (see the
    module's docstring)."""
    from snnc.train.adapt import Run
    from snnc.train.checkpoint import checkpoint_info, load_model

    if not get_target(target).weight_grid:
        raise CompileError(f"target '{target}' has no integer weight grid to fine-tune on")
    _, old_cfg = load_model(checkpoint)
    front = float_net(checkpoint, target=target)
    if "input_planes" in front.graph.metadata:
        raise CompileError(f"{checkpoint}: its analog input runs on {target} as held bit planes "
                           "(compiler/frontend/planes.py), whose per-plane weights adapt has no grid for yet; "
                           "compile it as it is")
    if data is not None:
        front.data = dict(data)
    rate = {"rate_weight": rate_weight, "rate_target": rate_target}
    cfg, notes = chip_config(compile_net(front, target, calibrate), old_cfg, target, epochs, lr, rate)
    info = checkpoint_info(checkpoint)
    train_set, val_set = splits(cfg, data, get_target(target).input_cap)
    run = Run(cfg, start_state(checkpoint, cfg, info["in_shape"], info["n_classes"]), info["in_shape"],
              info["n_classes"], train_set, val_set, Path(out))
    notes.extend(hold_gains(run.core))
    gains = unit_gains(run.core.state_dict())
    about = {"target": target, "source": str(checkpoint), "source_sha256": info["sha256"], "notes": notes,
             "data": data, "lr": cfg.train.lr, "calibrate": calibrate,
             "rate_weight": cfg.loss.rate_weight, "rate_target": cfg.loss.rate_target,
             "model": {k: getattr(cfg.model, k) for k in ("beta", "syn_beta", "reset", "max_spikes", "readout",
                                                          "bias")}}
    return Plan(run, assessor(target, cfg, val_set, data, calibrate, gains), notes, about)


def hold_gains(model) -> list[str]:
    """The conv units' affine scales held fixed: their gain is part of each weight's grid step
    (`unit_gains`), which must not move between two compiles."""
    held = [name for name, p in model.named_parameters() if name.endswith(".affine.scale_param")]
    for name in held:
        model.get_parameter(name).requires_grad_(False)
    return [f"model: {len(held)} conv units' affine scales held (their gain sets the weight grid's step)"] if held else []


def adapt(checkpoint, target: str, epochs: int, out, progress: bool = False, **options) -> dict:
    """`prepare`, then fine-tune; returns the summary (also out/summary.json)."""
    from snnc.train.adapt import fine_tune

    plan = prepare(checkpoint, target, epochs, out, **options)
    return fine_tune(plan.run, plan.assess, progress, about=plan.about)
