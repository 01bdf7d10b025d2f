"""NeuroBench side by side: the field's static and workload metrics of the float model
beside snnc's own counts.

The float model is the checkpoint's posterior mean as its float graph (`ideal`,
`compiler.frontend.checkpoint.float_net`), rebuilt as PyTorch modules NeuroBench
hooks: every synapse an `nn.Linear` (its connection hook counts synaptic
operations), every spiking population an `snntorch.SpikingNeuron` (its activation
hook counts activations) running the `ideal` target's float32 LIF step exactly,
the readout a non-spiking integrator. NeuroBench 2.3.0 (`Benchmark`, `TorchModel`)
then measures Footprint, ConnectionSparsity, ParameterCount, ClassificationAccuracy,
ActivationSparsity and SynapticOperations (Effective_ACs, Effective_MACs, Dense).

snnc's synaptic events on `ideal` count, per delivered spike count, the
presynaptic neuron's non-zero fan-out; NeuroBench's ACs count, per non-zero
binary input, the non-zero weights of its column. They are the same number when
the spike trains agree and every spike count is 0 or 1; `differences` names
each reason they may not be (spike trains that differ, multi-spike counts,
non-binary inputs counted as MACs).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import FloatLIF, Synapse
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import InputError
from snnc.targets import get as get_target

NON_BINARY = "layer inputs other than 0/1 spikes: NeuroBench counts them as MACs, snnc as events"


def _torch_modules():
    """The module classes, built on first use (torch and snntorch load only when asked)."""
    import snntorch as snn
    import torch
    from torch import nn

    class SumLinear(nn.Linear):
        """A synapse: float64 sum of W s (scaled by 2^weight_exp), as the `ideal` target sums it."""

        def __init__(self, weights: np.ndarray, weight_exp: int = 0):
            super().__init__(weights.shape[1], weights.shape[0], bias=False)
            self.weight.data = torch.from_numpy(np.array(weights, np.float32))
            self.scale = 2.0 ** weight_exp

        def forward(self, s):
            return nn.functional.linear(s.double(), self.weight.double()) * self.scale

    class FloatLIFNeuron(snn.SpikingNeuron):
        """The `ideal` FloatLIF step in float32 (targets/ideal.py float_lif_step), spike counts out."""

        def __init__(self, node):
            super().__init__(threshold=torch.from_numpy(node.vth.copy()),
                             reset_mechanism="subtract" if node.reset == "soft" else "zero")
            for name in ("beta", "alpha", "bias"):
                self.register_buffer(name, torch.from_numpy(getattr(node, name).copy()))
            self.max_spikes, self.soft = int(node.max_spikes), node.reset == "soft"

        def forward(self, a, state):
            i, v = state
            i = self.alpha * i + a.float()
            v = self.beta * v + i + self.bias
            n = _spike_count(torch, v, self.threshold, self.max_spikes)
            fired = n > 0
            v_reset = v - self.threshold * n if self.soft else torch.zeros_like(v)
            self.mem = torch.where(fired, v_reset, v)
            return n, (i, self.mem)

    return SumLinear, FloatLIFNeuron, nn, torch


def _spike_count(torch, v, vth, max_spikes: int):
    """targets/ideal.py spike_count in torch: 0 unless v > vth; else 1 + clip(ceil(v/vth) - 2, 0, max - 1)."""
    above = (v > vth).float()
    if max_spikes == 1:
        return above
    extra = torch.clamp(torch.ceil(v / vth) - 2, 0, max_spikes - 1)
    return above * (1 + extra)


def graph_net(graph):
    """The float graph as a torch module: forward(x [B, T, N]) -> readout v [B, T, C]."""
    SumLinear, FloatLIFNeuron, nn, torch = _torch_modules()
    from snnc.runtime import deploy

    _check_supported(graph)
    _, out, readout = deploy.output_node(graph)

    class GraphNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.order = list(graph.neurons)
            self.synapses = nn.ModuleDict({s: SumLinear(syn.weights, syn.weight_exp)
                                           for s, syn in graph.of_type(Synapse).items()})
            self.neurons = nn.ModuleDict({n: FloatLIFNeuron(graph.nodes[n]) for n in self.order
                                          if float(np.max(graph.nodes[n].vth)) < NON_SPIKING})
            self.spikes = {}

        def forward(self, x):
            B, T = x.shape[:2]
            state = {n: (torch.zeros(B, graph.nodes[n].size), torch.zeros(B, graph.nodes[n].size))
                     for n in self.order}
            trains = {n: [] for n in [*graph.inputs, *self.order]}
            for t in range(T):
                self._step(x[:, t], t, state, trains)
            self.spikes = {n: torch.stack(s, 1) for n, s in trains.items()}
            return torch.stack(trains["__v__"], 1) if "__v__" in trains else self.spikes[readout]

        def _step(self, x_t, t, state, trains):
            now = dict(zip(graph.inputs, torch.split(x_t, [n.size for n in graph.inputs.values()], 1)))
            for name in graph.inputs:
                trains[name].append(now[name])
            for name in self.order:
                a = self._arriving(name, now, trains, t)
                if name in self.neurons:
                    now[name], state[name] = self.neurons[name](a, state[name])
                else:  # the non-spiking readout integrator
                    now[name], state[name] = _integrate(torch, graph.nodes[name], a, state[name])
                    trains.setdefault("__v__", []).append(state[name][1])
                trains[name].append(now[name])

        def _arriving(self, name, now, trains, t):
            a = torch.zeros(now[next(iter(graph.inputs))].shape[0], graph.nodes[name].size, dtype=torch.float64)
            for syn_name, syn, src in graph.incoming(name):
                if syn.delay == 0:
                    a = a + self.synapses[syn_name](now[src])
                elif t >= syn.delay:
                    a = a + self.synapses[syn_name](trains[src][t - syn.delay])
            return a

    net = GraphNet()
    net.decode = (out.step, float(out.gain), torch.from_numpy(out.offset.astype(np.float32)))
    return net


def _integrate(torch, node, a, state):
    """FloatLIF with an unreachable threshold: i <- alpha i + a; v <- beta v + i + bias; no spikes."""
    i, v = state
    alpha, beta, bias = (torch.from_numpy(np.array(getattr(node, k))) for k in ("alpha", "beta", "bias"))
    i = alpha * i + a.float()
    v = beta * v + i + bias
    return torch.zeros_like(v), (i, v)


def _check_supported(graph) -> None:
    if get_target(graph.target).integer:
        raise InputError(f"NeuroBench measures the float graph ('ideal'), got a '{graph.target}' graph")
    for name, node in graph.neurons.items():
        if not isinstance(node, FloatLIF):
            raise InputError(f"node '{name}': {type(node).__name__} has no NeuroBench form (FloatLIF only)")


def run_neurobench(graph, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tuple[dict, dict]:
    """(NeuroBench's results, the torch net's spike trains {node: [B, T, n]}) on x [B, T, N]."""
    import snntorch as snn
    import torch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations
    from neurobench.models import TorchModel
    from torch.utils.data import DataLoader, TensorDataset

    net = graph_net(graph)
    model = TorchModel(net)
    model.add_activation_module(snn.SpikingNeuron)
    step, gain, offset = net.decode
    loader = DataLoader(TensorDataset(torch.from_numpy(np.asarray(x, np.float32)),
                                      torch.from_numpy(np.asarray(y, np.int64))), batch_size=batch_size)
    bench = Benchmark(model, loader, [], [lambda v: (gain * v[:, step].double() + offset).argmax(1)],
                      [[Footprint, ConnectionSparsity, ParameterCount],
                       [ClassificationAccuracy, ActivationSparsity, SynapticOperations]])
    with torch.no_grad():
        results = bench.run(quiet=True)
        net(torch.from_numpy(np.asarray(x, np.float32)))
    return results, {n: s.numpy().astype(np.int64) for n, s in net.spikes.items()}


def snnc_counts(graph, x: np.ndarray) -> tuple[dict, dict]:
    """(snnc's counts per inference on `ideal`, its spike trains) for the same inputs."""
    from snnc.runtime import deploy
    from snnc.runtime.per_inference import counters

    _, result = deploy.run(graph, x)
    count = counters(graph, result.spikes)
    spiking = [n for n in graph.neurons if graph.nodes[n].vth.max() < NON_SPIKING]
    active = sum(int(np.count_nonzero(result.spikes[n])) for n in spiking)
    slots = sum(int(np.prod(result.spikes[n].shape)) for n in spiking)
    return {"synaptic_events_per_inference": float(np.mean(sum(c["synaptic_events"] for c in count.values()))),
            "activation_sparsity": 1.0 - active / slots if slots else 0.0,
            "parameters": int(sum(s.weights.size for s in graph.of_type(Synapse).values())),
            "weight_sparsity": _weight_sparsity(graph)}, result.spikes


def _weight_sparsity(graph) -> float:
    ws = [s.weights for s in graph.of_type(Synapse).values()]
    return float(sum(int(np.sum(w == 0)) for w in ws) / max(sum(w.size for w in ws), 1))


def differences(graph, ours: dict, theirs: dict, nb: dict, counted: dict) -> list[str]:
    """Each reason NeuroBench's ACs and snnc's events may differ, with its size; [] when equal."""
    out = []
    mismatch = sum(int(np.count_nonzero(ours[n] != theirs[n])) for n in graph.neurons if n in theirs)
    if mismatch:
        out.append(f"spike trains differ in {mismatch} (sample, step, neuron) entries between snnc's "
                   "event engine and the torch model NeuroBench runs")
    multi = {n: int(np.sum(np.maximum(ours[n] - 1, 0))) for n in [*graph.inputs, *graph.neurons]}
    if any(multi.values()):
        extra = {n: k for n, k in multi.items() if k}
        out.append(f"multi-spike counts (extra spikes beyond one per step: {extra}): snnc counts each spike, "
                   "NeuroBench one operation per non-zero input")
    if nb["Effective_MACs"]:
        out.append(f"{NON_BINARY} ({nb['Effective_MACs']:.0f} MACs per inference)")
    gap = counted["synaptic_events_per_inference"] - nb["Effective_ACs"]
    if abs(gap) > 1e-9 * max(1.0, nb["Effective_ACs"]) and not out:
        out.append(f"unexplained: snnc counts {gap:+.3f} events per inference more than NeuroBench's ACs")
    return out


def side_by_side(checkpoint, x: np.ndarray, y: np.ndarray, report: dict | None = None) -> dict:
    """NeuroBench's metrics of the checkpoint's float model beside snnc's counts on `ideal`
    (and on the deployed target when `report` is that graph's verify report)."""
    from snnc.compiler.frontend.checkpoint import float_net

    if checkpoint is None:
        raise InputError("NeuroBench metrics measure the float model: give the checkpoint")
    graph = float_net(checkpoint, "mean").graph
    nb, theirs = run_neurobench(graph, x, y)
    counted, ours = snnc_counts(graph, x)
    syn = nb["SynapticOperations"]
    diffs = differences(graph, ours, theirs, syn, counted)
    out = {"neurobench": {"footprint_bytes": int(nb["Footprint"]), "connection_sparsity": nb["ConnectionSparsity"],
                          "parameter_count": int(nb["ParameterCount"]), "accuracy": nb["ClassificationAccuracy"],
                          "activation_sparsity": nb["ActivationSparsity"], "effective_acs": syn["Effective_ACs"],
                          "effective_macs": syn["Effective_MACs"], "dense_synops": syn["Dense"]},
           "snnc_ideal": counted, "synops_equal": not diffs, "differences": diffs,
           "samples": int(len(y)), "neurobench_version": _version()}
    if report is not None and get_target(report["target"]).integer:
        out["snnc_deployed"] = {"target": report["target"],
                                "synaptic_events_per_inference": report["synaptic_events_per_inference"],
                                "note": "the deployed graph: quantised weights (some become 0), the target's "
                                        "dynamics and its latency padding steps"}
    return out


def _version() -> str:
    from importlib.metadata import version
    return version("neurobench")


