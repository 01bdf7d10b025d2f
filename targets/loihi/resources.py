"""What a Loihi graph takes of the chip: cores per population, cores and chips in all, Dense and
Conv processes, synapses, and an estimate of synaptic memory with conv kernels shared.

- Cores: each population on whole cores of NEURONS_PER_CORE neurons (lif.py: 1,024 compartments per
  core, Davies et al. 2018), populations never sharing a core (the mapper's choice, an upper bound);
  chips of CORES = 128 cores (Davies et al. 2018). A graph beyond one chip is counted, not refused
  (rule neurons-per-chip refuses only a single population beyond one chip).
- Synaptic memory, an estimate: a Dense stores each nonzero 8-bit weight once (Davies et al. 2018
  give Loihi's synaptic memory per core, not a per-synapse layout: 8 bits per synapse is the weight
  alone, no index bits). A conv layer shares its kernel: every core holding some of its output
  neurons (channel-major, so a core holds whole channels where H*W divides 1,024) stores the kernel
  rows of the output channels it holds, once, 8 bits a weight (Lava's Conv declares
  num_weight_bits = 8; Loihi 2's weight-shared convolutional synapses are described by Intel (Loihi 2
  brief, 2021) without a per-weight cost, hence an estimate). The unshared alternative, one synapse
  per connection the kernel makes (`Conv2d.fan_out_counts`), is reported beside it.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Conv2d, Graph, Synapse
from snnc.targets.loihi.lava_layers import SplitDense, split_parts
from snnc.targets.loihi.lif import CORES, NEURONS_PER_CORE

WEIGHT_BITS = 8   # Lava 0.10.0: Dense's 8-bit weights; Conv's num_weight_bits default 8


def cores_of(neurons: int) -> int:
    return -(-int(neurons) // NEURONS_PER_CORE)


def shared_kernel_bits(node: Conv2d) -> int:
    """Estimated bits of a conv's shared kernel over the cores of its output population."""
    c_out = node.weights.shape[0]
    per_channel = node.out_hw[0] * node.out_hw[1]
    nonzero = np.count_nonzero(node.weights.reshape(c_out, -1), axis=1)
    bits = 0
    for core in range(cores_of(node.out_size)):
        first = core * NEURONS_PER_CORE // per_channel
        last = (min((core + 1) * NEURONS_PER_CORE, node.out_size) - 1) // per_channel
        bits += int(nonzero[first:last + 1].sum()) * WEIGHT_BITS
    return bits


def connections(node: Conv2d) -> int:
    """Connections a conv's nonzero taps make (`Conv2d.fan_out_counts().sum()`), counted per tap
    without building the conv's sparse matrix (hundreds of millions of entries on CIFAR's layers)."""
    nonzero = np.count_nonzero(node.weights, axis=(0, 1))           # [kh, kw]
    valid = []
    for axis in (0, 1):
        n, k = node.in_shape[1 + axis], node.kernel_size[axis]
        s, p, d, o = node.stride[axis], node.padding[axis], node.dilation[axis], node.out_hw[axis]
        pos = np.arange(o)[:, None] * s - p + np.arange(k)[None, :] * d
        valid.append(((pos >= 0) & (pos < n)).sum(axis=0))            # [k]: outputs whose tap lands inside
    return int((nonzero * np.outer(valid[0], valid[1])).sum())


def usage(graph: Graph) -> dict:
    """Cores per population and in all, chips, Dense and Conv processes, 8-bit Dense synapses (a
    SplitDense is two Dense, its synapses those of both parts), conv kernel weights (shared) and the
    connections they make, and the synaptic-memory estimate in KiB."""
    per_layer = {name: cores_of(node.size) for name, node in graph.neurons.items()}
    cores = sum(per_layer.values())
    chips = max(1, -(-cores // CORES))
    synapses = graph.of_type(Synapse)
    convs = {n: s for n, s in synapses.items() if isinstance(s, Conv2d)}
    parts = [p for n, syn in synapses.items() if n not in convs
             for p, _ in (split_parts(syn) if isinstance(syn, SplitDense) else [(syn.weights, 0)])]
    dense_synapses = int(sum(np.count_nonzero(p) for p in parts))
    kernel_bits = sum(shared_kernel_bits(c) for c in convs.values())
    return {"cores": cores, "cores_limit": CORES * chips, "chips": chips, "cores_per_chip": CORES,
            "neurons": sum(n.size for n in graph.neurons.values()), "cores_per_layer": per_layer,
            "dense_processes": len(parts), "conv_processes": len(convs),
            "split_synapses": sum(isinstance(s, SplitDense) for s in synapses.values()),
            "synapses_8bit": dense_synapses,
            "conv_kernel_weights": int(sum(np.count_nonzero(c.weights) for c in convs.values())),
            "conv_connections": sum(connections(c) for c in convs.values()),
            "synaptic_memory_kib_estimate": round((dense_synapses * WEIGHT_BITS + kernel_bits) / 8192, 1)}
