"""Export a graph as NIR (nir 1.0.8), float-equivalent; run NIR graphs in snnTorch.

    export(graph, "build/digits.nir")       # an `ideal` graph, or a `loihi` one rescaled to floats
    run_snntorch(nir.read("build/digits.nir"), x)   # {population: {"spikes", "v"}}

What each snnc node becomes (time step DT = 1e-4 s, snnTorch's fixed dt, is
written to the graph's metadata as `dt`; forward Euler, as snnTorch's
`import_from_nir` discretises: beta = 1 - dt / tau, input gain r dt / tau):

    Input                      -> Input
    Synapse (weights * 2^e)    -> Linear, or Affine carrying the bias of a
                                  FloatLIF with alpha = 0 (v <- beta v + W x + b)
      feed-forward delay d > 0 -> Linear -> Delay(d * dt)
      recurrent delay 1        -> the cycle LIF -> Linear -> LIF (NIR's implicit step)
    FloatLIF, spiking, alpha 0 -> LIF(tau = dt / (1 - beta), r = tau / dt, v_leak 0,
                                  v_threshold = vth, v_reset 0);  beta = 1: IF(r = 1)
    FloatLIF, spiking, alpha>0 -> CubaLIF(tau_syn = dt / (1 - alpha), tau_mem, r = tau_mem / dt,
                                  w_in = tau_syn / dt, v_leak = bias / (1 - beta))
    FloatLIF, vth NON_SPIKING  -> LI (beta < 1), I(r = 1) (beta = 1), CubaLI (alpha > 0)
    Output                     -> Output; its decoding (read, step, gain, offset) and the
                                  graph's steps, pad_steps and data go to metadata["snnc"] (JSON)

IF and I take `r` per step (v <- v + r I), as snnTorch's and sinabs' IF do.
A `loihi` graph is first rescaled (`float_graph`): u, v keep Lava's integer
units as floats, weights w 2^(weight_exp + 6), alpha = 1 - (du + 1)/4096,
beta = 1 - dv/4096, vth << 6, bias_mant << bias_exp, zero reset; float, so
equivalent, not bit-exact (no trunc0, 24-bit wrap or v clip).

NIR's LIF resets to v_reset: soft (subtractive) reset and multi-spike
neurons (max_spikes > 1) have no NIR form, nor do Xylo's bit-shift decays;
such graphs raise FormatError naming the node, and nothing is written. So do
node names NIR's HDF5 file cannot hold as written (`check_name`: empty, NUL,
'/', '.', not UTF-8). A feed-forward delay's Delay node is `<synapse>_delay`,
or the first free `<synapse>_delay_1`, ... where a node already has that name.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import FormatError
from snnc.io import atomic_path
from snnc.targets import all_targets
from snnc.targets import get as get_target

DT = 1e-4  # s per step: snnTorch's import_from_nir assumes it


def export(graph: Graph, path) -> Path:
    """Write `graph` as a NIR file (HDF5) at `path`, atomically; return the path."""
    import nir

    ng = to_nir(graph)
    with atomic_path(path) as tmp:
        nir.write(tmp, ng)
        tmp.chmod(0o644)
    return Path(path)


def float_graph(graph: Graph) -> Graph:
    """The float (`ideal`) form of a graph: itself, or its target's `float_form` of it
    (a `loihi` graph rescaled: targets/loihi/float_form.py)."""
    target = get_target(graph.target)
    if not target.integer:
        return graph
    if target.float_form is None:
        have = ", ".join(f"'{n}'" for n, t in all_targets().items() if not t.integer or t.float_form)
        raise FormatError(f"cannot export a '{graph.target}' graph to NIR: only {have} graphs have a float "
                          "LIF form (Xylo's bit-shift decay, subtractive reset and multi-spikes have none)")
    return target.float_form(graph)


def check_name(name) -> None:
    """FormatError unless NIR's HDF5 file holds `name` as a node name, unchanged: a non-empty
    UTF-8 string without NUL (h5py refuses those) or '/' (HDF5's path separator: the node would
    land in a subgroup and the file would not read back), and not '.' (HDF5's own group)."""
    why = ("is not a string" if not isinstance(name, str) else "is empty" if not name
           else "contains NUL" if "\0" in name else "contains '/', HDF5's path separator" if "/" in name
           else "is '.', HDF5's own group" if name == "." else None)
    if why is None:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            why = "is not valid UTF-8"
    if why:
        raise FormatError(f"cannot export node {_shown(name)} to NIR: its name {why} (a NIR node name is a "
                          "non-empty UTF-8 string without NUL or '/', not '.')")


def _shown(name) -> str:
    text = ascii(name)
    return text if len(text) <= 60 else text[:57] + "..."


def to_nir(graph: Graph):
    """The nir.NIRGraph of `graph` (after `float_graph`)."""
    import nir

    for name in graph.nodes:
        check_name(name)
    g = float_graph(graph)
    nodes, edges = {}, []
    biased = _bias_carriers(g)
    for name, node in g.nodes.items():
        if isinstance(node, Input):
            nodes[name] = nir.Input({"input": np.array([node.size])})
        elif isinstance(node, Output):
            nodes[name] = nir.Output({"output": np.array([node.size])})
        elif isinstance(node, FloatLIF):
            nodes[name] = _neuron(name, node, biased)
        elif isinstance(node, Synapse):
            nodes[name] = _synapse(g, name, node, biased)
        else:
            raise FormatError(f"cannot export node '{name}' to NIR: a {type(node).__name__} has no NIR form here")
    for src, dst in g.edges:
        syn = g.nodes[src]
        if isinstance(syn, Synapse) and syn.delay > 0 and g.synapse_source(src) != dst:
            delay, k = f"{src}_delay", 1
            while delay in nodes or delay in g.nodes:
                delay, k = f"{src}_delay_{k}", k + 1
            nodes[delay] = nir.Delay(np.full(syn.out_size, syn.delay * DT))
            edges += [(src, delay), (delay, dst)]
        else:
            edges.append((src, dst))
    return nir.NIRGraph(nodes, edges, metadata={"dt": DT, "snnc": json.dumps(_meta(g))})


def _meta(g: Graph) -> dict:
    meta = {k: g.metadata[k] for k in ("steps", "pad_steps", "data", "checkpoint", "rescaled_from")
            if k in g.metadata}
    for name, out in g.outputs.items():
        meta["output"] = {"name": name, "read": out.read, "step": out.step, "gain": out.gain,
                          "offset": out.offset.tolist()}
    return meta


def _bias_carriers(g: Graph) -> dict[str, str]:
    """FloatLIF (alpha = 0, nonzero bias) -> the synapse whose Affine carries its bias."""
    carriers = {}
    for name, node in g.neurons.items():
        if isinstance(node, FloatLIF) and np.any(node.bias != 0) and np.all(node.alpha == 0):
            incoming = g.incoming(name)
            if not incoming:
                raise FormatError(f"cannot export node '{name}' to NIR: a bias without an input synapse")
            carriers[incoming[0][0]] = name
    return carriers


def _synapse(g: Graph, name: str, syn: Synapse, biased: dict):
    import nir

    if syn.port != 0:
        raise FormatError(f"cannot export node '{name}' to NIR: port {syn.port} (NIR neurons have one input)")
    src, (dst,) = g.synapse_source(name), g.successors(name)
    if src == dst and syn.delay != 1:
        raise FormatError(f"cannot export node '{name}' to NIR: a recurrent delay of {syn.delay} steps "
                          "(NIR's recurrent edge is one step)")
    w = (syn.weights.astype(np.float64) * 2.0 ** syn.weight_exp).astype(np.float32)
    if name in biased:
        return nir.Affine(w, g.nodes[biased[name]].bias.astype(np.float32))
    return nir.Linear(w)


def _neuron(name: str, node: FloatLIF, biased: dict):
    """The NIR neuron of a FloatLIF (module docstring); FormatError where there is none."""
    import nir

    def refuse(why):
        raise FormatError(f"cannot export node '{name}' to NIR: {why}")

    n = node.size
    beta, alpha = node.beta.astype(np.float64), node.alpha.astype(np.float64)
    spiking = bool(np.all(node.vth < NON_SPIKING))
    if not spiking and np.any(node.vth < NON_SPIKING):
        refuse("some neurons spike and some do not")
    if spiking and node.reset != "zero":
        refuse("soft (subtractive) reset; NIR's neurons reset to v_reset")
    if spiking and node.max_spikes != 1:
        refuse(f"up to {node.max_spikes} spikes per step; NIR's neurons spike once")
    if np.any(beta > 1) or np.any(beta < 0) or np.any(alpha >= 1) or np.any(alpha < 0):
        refuse("beta must lie in [0, 1] and alpha in [0, 1)")
    no_leak = beta == 1
    if np.any(no_leak) and not np.all(no_leak):
        refuse("some neurons leak and some do not (beta = 1): one NIR node type per population")
    zeros, vth = np.zeros(n), node.vth.astype(np.float64)
    cuba = bool(np.any(alpha > 0))
    if cuba and np.any(node.bias != 0) and np.any(no_leak):
        refuse("a bias with a synaptic current and no leak has no NIR form (v_leak needs beta < 1)")
    if not cuba and np.any(node.bias != 0) and not any(v == name for v in biased.values()):
        refuse("a bias without an input synapse")
    v_leak = node.bias.astype(np.float64) / np.where(no_leak, 1.0, 1.0 - beta) if cuba else zeros
    tau = DT / np.where(no_leak, 1.0, 1.0 - beta)
    if cuba:
        if np.any(no_leak):
            refuse("a synaptic current without a membrane leak (beta = 1) has no NIR form (tau_mem = inf)")
        tau_syn = DT / (1.0 - alpha)
        common = dict(tau_syn=tau_syn, tau_mem=tau, r=tau / DT, v_leak=v_leak, w_in=tau_syn / DT)
        return nir.CubaLIF(v_threshold=vth, v_reset=zeros, **common) if spiking else nir.CubaLI(**common)
    if np.all(no_leak):
        return nir.IF(r=np.ones(n), v_threshold=vth, v_reset=zeros) if spiking else nir.I(r=np.ones(n))
    if spiking:
        return nir.LIF(tau=tau, r=tau / DT, v_leak=zeros, v_threshold=vth, v_reset=zeros)
    return nir.LI(tau=tau, r=tau / DT, v_leak=zeros)


# --- running a NIR graph in snnTorch -------------------------------------------

NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I", "CubaLI")


def snntorch_module(nir_graph):
    """snnTorch's `import_from_nir` of the graph. snnTorch 1.0.0 maps no non-spiking
    (LI, I, CubaLI) or Delay node: where the graph has one, its own node map is
    used with four additions built from snnTorch's neurons (Leaky / Synaptic
    with a threshold nothing reaches; a shift register for Delay)."""
    import nir
    import nirtorch
    from snntorch import import_nir

    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints progress
        if not any(isinstance(n, (nir.LI, nir.I, nir.CubaLI, nir.Delay)) for n in nir_graph.nodes.values()):
            return import_nir.import_from_nir(nir_graph)
        graph = import_nir._replace_rnn_subgraph_with_nirgraph(nir_graph)
        snn_map = {cls: (lambda n: import_nir._nir_to_snntorch_module(n, init_hidden=True))
                   for cls in (nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.AvgPool2d, nir.IF, nir.LIF,
                               nir.CubaLIF)}
        return nirtorch.nir_to_torch(graph, {**snn_map, nir.LI: _leaky_integrator, nir.I: _leaky_integrator,
                                             nir.CubaLI: _cuba_integrator, nir.Delay: _delay})


def _no_threshold():
    return float(np.finfo(np.float32).max)


def _leaky_integrator(node):
    """LI / I as snnTorch's Leaky that never spikes (beta, input gain as `nir_params` reads them)."""
    import snntorch as snn

    from snnc.compiler.frontend.nir import nir_params

    p = nir_params(node, DT)
    return _Gained(snn.Leaky(beta=_one(p["beta"]), threshold=_no_threshold(), reset_mechanism="none",
                             init_hidden=True, reset_delay=False), p["gain"])


def _cuba_integrator(node):
    """CubaLI as snnTorch's Synaptic that never spikes."""
    import snntorch as snn

    from snnc.compiler.frontend.nir import nir_params

    p = nir_params(node, DT)
    return _Gained(snn.Synaptic(alpha=_one(p["alpha"]), beta=_one(p["beta"]), threshold=_no_threshold(),
                                reset_mechanism="none", init_hidden=True, reset_delay=False), p["gain"])


def _one(values):
    """A single value where all neurons share it (snnTorch's neurons take scalars or tensors)."""
    import torch

    v = np.unique(values)
    return float(v[0]) if v.size == 1 else torch.as_tensor(np.asarray(values, np.float32))


def _gained_class():
    import torch

    class Gained(torch.nn.Module):
        """A neuron with its input multiplied by a fixed gain (NIR's r dt / tau)."""

        def __init__(self, neuron, gain):
            super().__init__()
            self.neuron = neuron
            self.register_buffer("gain", torch.as_tensor(np.asarray(gain, np.float32)))

        @property
        def mem(self):
            return self.neuron.mem

        def forward(self, x):
            return self.neuron(x if bool((self.gain == 1).all()) else x * self.gain)

    return Gained


def _Gained(neuron, gain):  # noqa: N802  (a class built lazily: torch is imported on use)
    return _gained_class()(neuron, gain)


def _delay(node):
    """nir.Delay as a shift register of round(delay / dt) steps (one delay for the node)."""
    import torch

    steps = int(round(float(np.unique(node.delay)[0]) / DT))

    class Delay(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.queue = []

        def forward(self, x):
            self.queue.append(x)
            return self.queue.pop(0) if len(self.queue) > steps else torch.zeros_like(x)

    return Delay()


def run_snntorch(nir_graph, x) -> dict:
    """Run the graph in snnTorch (fresh state) on x [B, T, N]: per neuron node
    {"spikes": [B, T, n] int64, "v": [B, T, n] float32}, the values after each step."""
    import torch

    module = snntorch_module(nir_graph)
    pops = {n for n, node in nir_graph.nodes.items() if type(node).__name__ in NEURONS}
    pops |= {n for n, node in nir_graph.nodes.items() if type(node).__name__ == "NIRGraph"}  # RNN subgraphs
    children = dict(module.named_children())
    traces = {p: {"spikes": [], "v": []} for p in pops if p in children}
    def keep(p):
        def hook(mod, inp, out):  # returns None: a hook's return value would replace the output
            spikes = out[0] if isinstance(out, tuple) else out  # snnTorch's IF returns (spk, mem)
            traces[p]["spikes"].append(spikes.detach().clone())
            traces[p]["v"].append(mod.mem.detach().clone())
        return hook

    for p in traces:
        children[p].register_forward_hook(keep(p))
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    state = None
    with torch.no_grad():
        for t in range(xt.shape[1]):
            _, state = module(xt[:, t], state)
    return {p: {"spikes": torch.stack(tr["spikes"], 1).numpy().astype(np.int64),
                "v": torch.stack(tr["v"], 1).numpy().astype(np.float32)} for p, tr in traces.items()}


def run_in_snntorch(graph: Graph, padded) -> dict:
    """`verify`'s "snntorch" backend (ideal graphs): export to a temporary NIR file and run it in
    snnTorch's `import_from_nir` (an executor snnc did not write). Spikes must be equal; v may
    differ within `tolerance`: snnTorch's Linear sums in float32 in its own order (snnc sums in
    float64, then rounds), measured ~1e-6 (tests/compiler/test_nir.py)."""
    import tempfile

    import nir

    with tempfile.TemporaryDirectory(prefix="snnc-nir-") as tmp:
        out = run_snntorch(nir.read(export(graph, Path(tmp) / "graph.nir")), padded)
    return {n: out[n] for n in graph.neurons if n in out}


run_in_snntorch.tolerance = {"v": {"rtol": 1e-5, "atol": 1e-4}}


def run_round_trip(graph: Graph, padded) -> dict:
    """`verify`'s "nir" backend: export to a temporary file, read it back with `nir.read` and snnc's
    NIR frontend, simulate that graph (event engine). Bit-exact for `ideal` graphs; snnTorch agrees
    on every spike but sums in float32 in another order, so its v differs by ~1e-6 (the tests run it)."""
    import tempfile

    from snnc.compiler.frontend.nir import graph_from_nir, read_nir
    from snnc.runtime.simulate import simulate

    with tempfile.TemporaryDirectory(prefix="snnc-nir-") as tmp:
        path = export(graph, Path(tmp) / "graph.nir")
        back = graph_from_nir(read_nir(path))
    res = simulate(back, padded, record=("v",))
    return {n: {"spikes": res.spikes[n], "v": res.state[n]["v"]} for n in back.neurons}
