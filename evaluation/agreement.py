"""How closely a deployed graph follows its reference on inputs without labels.

    output_agreement(front.graph, compiled.graph, x)
      -> {"argmax": 0.97, "spikes": {"lif2": 0.96}, "samples": 300}

Both graphs run as they are deployed (`deploy.run`: each padded for its own
latency, decoded from its Output). `argmax` is the fraction of samples whose
decoded outputs have the same argmax. `spikes` holds, per output population
that spikes (an Output reading spike counts), the coincidence of the two runs'
spike counts per sample and neuron over the T real steps (what the Output
decodes; the deployed raster shifted back by its latency first):

    2 * sum min(n_ref, n_dep) / (sum n_ref + sum n_dep)     (1.0 when both are silent)

1.0 only when every neuron of every sample spikes as often in both; silence on
both sides earns nothing, so a graph that outputs nothing scores 0 against one
that spikes. `coincidence(a, b)` on the rasters themselves gives the stricter
same-step form. The population is named as the reference names it (a chip's
layout may rename it: Xylo's `readout`).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph
from snnc.errors import InputError
from snnc.runtime import deploy


def output_agreement(reference: Graph, deployed: Graph, x: np.ndarray) -> dict:
    """Argmax agreement and per-output-population spike coincidence of `deployed` against
    `reference` on inputs x [B, T, N] (module docstring)."""
    x = np.asarray(x)
    if x.ndim != 3 or len(x) == 0:
        raise InputError(f"agreement needs inputs [B, T, N] with B >= 1, got shape {x.shape}")
    ref_out, ref_run = deploy.run(reference, x)
    dep_out, dep_run = deploy.run(deployed, x)
    argmax = float(np.mean(ref_out.argmax(1) == dep_out.argmax(1)))
    if len(reference.outputs) != len(deployed.outputs):
        raise InputError(f"the reference graph has {len(reference.outputs)} Output nodes, the deployed one "
                         f"{len(deployed.outputs)}: not the same net")
    spikes = {}
    for (_, ref_node, ref_pop), (_, _, dep_pop) in zip(_outputs(reference), _outputs(deployed)):
        if ref_node.read != "spike_count":
            continue
        steps = x.shape[1]
        shift = int(deployed.metadata.get("pad_steps", 0)) - int(reference.metadata.get("pad_steps", 0))
        ref = np.asarray(ref_run.spikes[ref_pop])[:, :steps]
        dep = np.asarray(dep_run.spikes[dep_pop])[:, shift:shift + steps]
        spikes[ref_pop] = coincidence(ref.sum(axis=1), dep.sum(axis=1))
    return {"argmax": argmax, "spikes": spikes, "samples": int(len(x))}


def coincidence(a: np.ndarray, b: np.ndarray) -> float:
    """2 sum min(a, b) / (sum a + sum b) over spike counts of the same shape; 1.0 when both are 0
    (on rasters [B, T, N]: same-step coincidence; on counts [B, N]: count coincidence)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else float(2 * np.minimum(a, b).sum() / total)


def _outputs(graph: Graph) -> list[tuple[str, object, str]]:
    """(Output name, node, population it reads), in the graph's order."""
    return [(name, node, graph.predecessors(name)[0]) for name, node in graph.outputs.items()]
