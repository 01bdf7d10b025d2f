"""checkpoint.pt -> float front-level graph on `ideal` that reproduces the PyTorch model.

The graph uses the IR's float nodes (NIR-aligned): `Synapse` (affine, float32
weights), `FloatLIF` (one-state or current-based LIF, soft or zero reset; with
beta = alpha = 0 and zero reset it is the memoryless binary threshold unit; with
threshold NON_SPIKING it is the non-spiking readout integrator) and `Output`
(host-side decoding: logits = gain * v[step] + offset, the readout bias being the
offset). Feed-forward synapses have delay 0 (the trained net has no synaptic
delay); recurrent ones delay 1 (mu_t += R s_{t-1}).

mode="mean": posterior-mean weights, noise off: the deterministic forward of the
trained model (`model.fire.deterministic = True`).
mode="samples", k=K: K posterior weight draws (`bayes.sampled_states`, the draws
`summary.json`'s sampled accuracy uses) side by side as K sub-networks that share
the input: hidden populations are stacked (first layer) or block-diagonal (later
and recurrent layers), and the K readouts are summed into one with weights / K,
so the logits are the mean of the K sub-networks' logits.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse, check_graph
from snnc.compiler.frontend.record import FloatNet
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import CompileError
from snnc.targets import all_targets
from snnc.targets import get as get_target

MODES = ("mean", "samples")


def float_net(checkpoint, mode: str = "mean", k: int = 8, seed: int = 0, target: str | None = None) -> FloatNet:
    """Read `checkpoint` (a path) and build its float graph (see module docstring).

    Analog input (data.encoding = "direct") is accepted for a `target` whose record says
    `analog_input` only; the graph is then the dense form (Gemm + Step, compiler/passes/dense_layers.py),
    which takes float input."""
    from snnc.train.trainer import checkpoint_info, load_model

    if mode not in MODES:
        raise CompileError(f"mode '{mode}' unknown (choose from {', '.join(MODES)})")
    if mode == "samples" and not 1 <= int(k) <= 64:
        raise CompileError(f"--k must lie in [1, 64] posterior samples, got {k}")
    model, cfg = load_model(checkpoint)
    info = checkpoint_info(checkpoint)
    _check_compilable(cfg, checkpoint, target, int(info["in_shape"][0]))
    if cfg.model.name == "resnet" and mode == "samples":
        raise CompileError(f"{checkpoint}: --mode samples is not lowered for resnets yet; use --mode mean")
    if cfg.method.name == "sg" and mode == "samples":
        raise CompileError(f"{checkpoint}: an SG net has no posterior to sample; use --mode mean")
    states = _states(model, mode, int(k), seed, cfg.model)
    steps = int(info["in_shape"][0])
    if cfg.model.name == "resnet":   # compiler/frontend/resnet.py: conv units, spike-add shortcuts
        from snnc.compiler.frontend.resnet import resnet_graph

        graph, layers = resnet_graph(cfg.model, states[0], model.image_shape, steps, neuron_params(cfg.model),
                                     readout_params(cfg.model, steps))
    else:
        graph, layers = _mlp_graph(cfg.model, states, int(np.prod(info["in_shape"][1:])), steps)
    notes = []
    if cfg.data.encoding == "direct" and target is not None and not get_target(target).analog_input:
        from snnc.compiler.frontend.planes import held_planes   # a spiking chip: bit planes, held

        graph, steps, notes = held_planes(graph, dict(cfg.data.__dict__))
    elif cfg.data.encoding == "direct":
        from snnc.compiler.passes.dense_layers import dense_graph

        graph = dense_graph(graph, steps)
    graph.metadata.update({"source": "checkpoint", "checkpoint_sha256": info["sha256"], "mode": mode,
                           "k": len(states) if mode == "samples" else 1, "seed": seed, "steps": steps})
    check_graph(graph)
    k = len(states)
    return FloatNet(graph, steps, int(info["n_classes"]), dict(cfg.data.__dict__), mode, k, layers, info,
                    options={"mode": mode, "k": k}, notes=notes,
                    report={"mode": mode, "k": k, "checkpoint_sha256": info["sha256"]})


def _check_compilable(cfg, path, target=None, steps: int = 1) -> None:
    if cfg.method.name == "sg":
        _check_sg(cfg, path)
    elif cfg.method.name != "sbnn":
        raise CompileError(f"{path}: method '{cfg.method.name}' checkpoints are not compiled")
    if cfg.model.name not in ("mlp", "srnn", "resnet"):
        raise CompileError(f"{path}: model '{cfg.model.name}' cannot be compiled (mlp, srnn and resnet can)")
    if getattr(cfg.model, "affine", "none") == "step":  # "channel_positive" folds (see _states)
        raise CompileError(f"{path}: model.affine = 'step' has no static form (a scale that varies "
                           "over time or is <= 0); train with affine 'channel_positive' or 'none'")
    held = cfg.model.neuron == "binary" and steps == 1 and target is not None   # planes.py
    if cfg.data.encoding == "direct" and not held and (target is None or not get_target(target).analog_input):
        analog = [name for name, t in all_targets().items() if t.analog_input]
        raise CompileError(f"{path}: layer 'fcs.0' takes analog input (data.encoding = 'direct') into "
                           f"{steps}-step {cfg.model.neuron} units; a spiking target needs spike-coded "
                           "input (train with encoding 'rate' or 'latency') or a 1-step binary net, whose input "
                           f"it holds as bit planes (or compile for {', '.join(analog)})")
    if getattr(cfg.model, "syn_beta", 0.0) > 0 and getattr(cfg.model, "bias", True):
        raise CompileError(f"{path}: hidden biases with a synaptic state (model.syn_beta > 0) have no "
                           "IR form (the bias would pass the synaptic filter); train with model.bias = false")


def _check_sg(cfg, path) -> None:
    """An SG net compiles when its neuron is the one the graph runs: `sg_neuron = "target"`
    (the SBNN's LIF step), or snnTorch's Leaky where the two coincide (binary units;
    zero reset, no synaptic current, one spike); never with per-step BatchNorm."""
    m, method = cfg.model, cfg.method
    if method.batchnorm:
        raise CompileError(f"{path}: method.batchnorm = true (a BatchNorm per time step) has no static "
                           "integer form; train the SG net without it")
    same = m.neuron == "binary" or (m.reset == "zero" and m.syn_beta == 0 and m.max_spikes == 1)
    if getattr(method, "sg_neuron", "snntorch") != "target" and not same:
        raise CompileError(f"{path}: the SG net's snnTorch Leaky (reset '{m.reset}', applied a step late) "
                           "is not the deployed neuron; train with method.sg_neuron = 'target'")


def _states(model, mode, k, seed, model_cfg) -> list[dict]:
    """Posterior-mean or sampled state dicts with any "channel_positive" affine folded
    into the weights and biases (`models.fold_channel_affine`), as float32 arrays."""
    from snnc.train.bayes import posterior_mean_state, sampled_states
    from snnc.train.models import fold_channel_affine

    states = [posterior_mean_state(model)] if mode == "mean" else sampled_states(model, k, seed)
    states = [fold_channel_affine(s, model_cfg) for s in states]
    return [{n: t.detach().cpu().numpy().astype(np.float32) for n, t in s.items()} for s in states]


def neuron_params(m) -> dict:
    """FloatLIF parameters of the trained hidden neuron of model config `m`."""
    if m.neuron == "binary":  # memoryless threshold unit
        return dict(beta=0.0, alpha=0.0, vth=m.theta, reset="zero", max_spikes=1)
    beta = m.beta if getattr(m, "beta", None) is not None else float(np.exp(-1.0 / m.tau_mem))
    return dict(beta=beta, alpha=getattr(m, "syn_beta", 0.0), vth=m.theta, reset=m.reset,
                max_spikes=getattr(m, "max_spikes", 1))


def readout_params(m, steps: int) -> tuple[dict, float, float]:
    """(FloatLIF params, input weight scale, decoding gain) of the trained readout.

    The float readout integrates the per-step FC output; the model's logits are
    sum_t w_t FC(s_t) with `readout_weights` w_t; the readout's last-step v is
    sum_t h_t FC(s_t) with h its impulse response, so gain = w_{T-1} / h_{T-1}.
    """
    from snnc.train.net_base import readout_weights

    kind = m.readout
    if kind == "mean":
        params, scale = dict(beta=1.0, alpha=0.0), 1.0
    elif kind == "leaky":
        params, scale = dict(beta=float(np.exp(-1.0 / m.readout_tau)), alpha=0.0), 1.0
    elif kind == "cuba":  # i = a (i + x), y = y + i: weights a W into a current with decay a
        a = m.readout_alpha
        params, scale = dict(beta=1.0, alpha=a), a
    else:
        raise CompileError(f"readout '{kind}' has no float IR form")
    w = readout_weights(steps, kind, tau=m.readout_tau, alpha=getattr(m, "readout_alpha", 0.5))
    gain = float(w[-1]) / scale
    return {**params, "vth": NON_SPIKING, "reset": "zero", "max_spikes": 1}, scale, gain


def _block_diag(blocks: list[np.ndarray]) -> np.ndarray:
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = np.zeros((rows, cols), np.float32)
    r = c = 0
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def _mlp_graph(m, states: list[dict], in_features: int, steps: int) -> tuple[Graph, list[str]]:
    """Input -> [fc_i -> lif_i (-> rec_i)]* -> fc_out -> readout -> output."""
    graph, layers = Graph(target="ideal"), []
    prev = graph.add("input", Input(in_features))
    p = neuron_params(m)
    n_hidden = len(list(m.hidden))
    for i in range(n_hidden):
        ws = [s[f"fcs.{i}.weight"] for s in states]
        w = np.concatenate(ws) if i == 0 else _block_diag(ws)
        bias = np.concatenate([s.get(f"fcs.{i}.bias", np.zeros(len(s[f"fcs.{i}.weight"]), np.float32))
                               for s in states])
        alpha = p["alpha"]
        syn = graph.add(f"fc{i}", Synapse(_scaled(w, alpha), delay=0), [prev])
        prev = graph.add(f"lif{i}", FloatLIF(w.shape[0], bias=bias, **p), [syn])
        layers.append(prev)
        rec_key = f"neurons.{i}.rec.weight"
        if rec_key in states[0]:
            rec = _block_diag([s[rec_key] for s in states])
            graph.add(f"rec{i}", Synapse(_scaled(rec, alpha), delay=1), [prev])
            graph.connect(f"rec{i}", prev)
    rp, scale, gain = readout_params(m, steps)
    w_out = np.concatenate([s["readout.fc.weight"] for s in states], axis=1) / len(states)
    b_out = np.mean([s["readout.fc.bias"] for s in states], axis=0)
    graph.add("fc_out", Synapse(_scaled(w_out, scale), delay=0), [prev])
    layers.append(graph.add("readout", FloatLIF(w_out.shape[0], **rp), ["fc_out"]))
    graph.add("output", Output(w_out.shape[0], read="v", step=steps - 1, gain=gain, offset=b_out), ["readout"])
    return graph, layers


def _scaled(w: np.ndarray, alpha: float) -> np.ndarray:
    """Weights into a current-based neuron: i = alpha (i + W x) is alpha i + (alpha W) x."""
    return (w * np.float32(alpha)).astype(np.float32) if alpha > 0 else w.astype(np.float32)
