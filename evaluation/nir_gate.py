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
from snnc.evaluation.compiled import MIN_AGREEMENT, unshifted
from snnc.evaluation.metrics import scores, softmax
from snnc.runtime import deploy

STEPS = (("dynamics_unshifted", "dynamics mapping"), ("target_dynamics", "latency"),
         ("deployed", "quantisation and clipping"))


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
    section = {"data": what, "samples": int(len(x)), "metric": metric, "scores": scored, "gate": None}
    drop = scored["float_graph"] - scored["deployed"]
    if drop > limit + 1e-12:
        losses = _losses(scored)
        worst = max(losses, key=losses.get)
        section["gate"] = {"metric": metric, "drop": drop, "max_drop": limit, "largest": worst,
                           "largest_drop": losses[worst]}
    return section


def _losses(scored: dict) -> dict[str, float]:
    """What each step lost against the one before it (without a latency step, the target
    dynamics step is the dynamics mapping)."""
    prev, losses = scored["float_graph"], {}
    for key, why in STEPS:
        if key in scored:
            why = "dynamics mapping" if key == "target_dynamics" and "dynamics_unshifted" not in scored else why
            losses[why] = prev - scored[key]
            prev = scored[key]
    return losses


def _accuracy(graph, x, y) -> float:
    return scores(softmax(deploy.run(graph, x)[0]), y)["accuracy"]


def gate_line(gate: dict) -> str:
    """The refusal as one clause: the figure, the limit, the largest step."""
    if gate["metric"] == "agreement":
        return (f"the deployed graph agrees with the float graph on {100 * (1 - gate['drop']):.2f}% (lowest of "
                f"argmax and output spike agreement; at least {100 * MIN_AGREEMENT:.0f}% needed); largest step: "
                f"{gate['largest']} ({100 * gate['largest_drop']:.2f} points)")
    return (f"deployed test accuracy is {100 * gate['drop']:.2f} points below the float graph's (more than "
            f"--max-drop {100 * gate['max_drop']:.2f}); largest step: {gate['largest']} "
            f"({100 * gate['largest_drop']:.2f} points)")
