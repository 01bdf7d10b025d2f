"""What every frontend returns: one float-net record that the one compile pipeline
(`snnc.compiler.pipeline.compile`) takes, whatever the source (a checkpoint, a KAN
checkpoint, a NIR file, a baseline built in code)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from snnc.compiler.ir import Graph

TASKS = ("classification", "regression")


@dataclass
class FloatNet:
    """A float graph on `ideal` and what a deployment needs to know about it."""

    graph: Graph
    steps: int                      # T of the trained net
    n_classes: int                  # outputs (classes, or regression targets)
    data: dict                      # the data set's config (name, encoding, classes, ...), {} if none
    mode: str                       # "mean", "samples", "nir", ...
    k: int                          # posterior samples side by side
    layers: list[str] = field(default_factory=list)   # neuron populations, input to readout
    info: dict = field(default_factory=dict)           # provenance: source file, its sha256, ...
    task: str = "classification"    # decided here, once: evaluation and printing follow it
    # calibration(n) -> inputs [n, T, C] that size the integer scales (one line for a bad n)
    calibration: Callable[[int], np.ndarray] | None = None
    options: dict = field(default_factory=dict)        # compile options recorded in the graph (metadata "compile")
    report: dict = field(default_factory=dict)         # what the frontend adds to the compile report
    notes: list[str] = field(default_factory=list)     # what the frontend changed, and why
    warnings: list[str] = field(default_factory=list)  # notes a user must see (an inexact lowering)
