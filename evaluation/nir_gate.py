"""The fidelity gate of a graph compiled from a NIR file: deployed against the float graph
(NIR's own semantics on `ideal`), on the data compile has.

With labels (`--data` with y_test): the accuracy drop, float graph -> deployed, at most
`max_drop` (the target's). Without labels (a file of inputs only, or `--calibrate-random`,
then measured on fresh random spike trains): the output agreement (evaluation/agreement.py)
of every step with the float graph; the gate's figure is the lowest of the argmax agreement
and each output population's spike agreement, at least MIN_AGREEMENT. Beyond either, the
largest contributor is the step that lost most along float graph -> target dynamics
(-> with its latency) -> deployed: dynamics mapping, latency, quantisation and clipping.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.compile import Compiled
from snnc.evaluation.agreement import output_agreement
from snnc.evaluation.compiled import MIN_AGREEMENT, gate_of, unshifted
from snnc.evaluation.metrics import scores, softmax
from snnc.runtime import deploy

def nir_fidelity(c: Compiled, x: np.ndarray, y: np.ndarray | None, max_drop: float, what: str) -> dict:
    """The report's `fidelity` section: per step its score against the float graph on x, and
    `gate` (None when the deployed graph passes). `what` says where x comes from."""
    graphs = {"target_dynamics": c.mapped, "deployed": c.graph}
    shift = unshifted(c)
    if shift is not None:
        graphs = {"dynamics_unshifted": shift, **graphs}
    if y is not None:
        scored = {"float_graph": _accuracy(c.front.graph, x, y),
                  **{k: _accuracy(g, x, y) for k, g in graphs.items()}}
        metric, limit = "accuracy", max_drop
    else:
        scored = {"float_graph": 1.0}
        for key, graph in graphs.items():
            agreement = output_agreement(c.front.graph, graph, x)
            scored[key] = min([agreement["argmax"], *agreement["spikes"].values()])
            if key == "deployed":
                scored["deployed_agreement"] = agreement
        metric, limit = "agreement", 1 - MIN_AGREEMENT
    section = {"data": what, "samples": int(len(x)), "metric": metric, "scores": scored,
               "gate": gate_of({k: {metric: v} for k, v in scored.items() if k != "deployed_agreement"},
                               metric, limit, "float_graph")}
    if section["gate"] is not None and metric == "agreement":
        section["gate"]["measure"] = "the lowest of argmax and output spike agreement"
    return section


def _accuracy(graph, x, y) -> float:
    return scores(softmax(deploy.run(graph, x)[0]), y)["accuracy"]
