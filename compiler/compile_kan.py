"""KAN checkpoint -> deployed dense graph for a target, with the regression compile report.

    compile_kan(ckpt, "edge-int8") -> Compiled(graph, mapped, front, report)

Flow: `frontend.kan` (the exact PWL, or Gemm + Relu, float graph on `ideal`, or the
stated piecewise-linear approximation for orders > 2), then the one compile pipeline
(`compiler.compile.compile_net`: the target's flow, for `edge-int8` quantisation
calibrated on training points, and the design rules).  The report measures on the test split (read once): the
PyTorch model, the float graph, the deployed integer graph (MSE and the
largest deviation from the PyTorch model).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.compile import DEFAULT_CALIBRATION, Compiled, compile_net
from snnc.compiler.frontend.kan import DEFAULT_LOWERING, kan_float_net, splits_of_graph, torch_values
from snnc.errors import CompileError
from snnc.runtime import deploy
from snnc.targets import get as get_target
from snnc.targets.registry import targets_for


def compile_kan(checkpoint, target: str, calibrate: int | None = DEFAULT_CALIBRATION,
                pwl_segments: int | None = None, evaluate: bool = True,
                lowering: str = DEFAULT_LOWERING) -> Compiled:
    """Lower (`lowering`: "pwl", one PWL node per layer, or "gemm", five Gemm/Relu steps per
    layer), quantise (calibrated on the first `calibrate` training points; None: all of
    them) and check; evaluate=True adds the test-split MSEs to the report.

    The calibration default is the SBNN compiler's: on the [2, 5, 1] KAN (seed 0, Gemm form)
    the deployed test MSE was 4.47e-5, 4.49e-5 and 4.50e-5 calibrated on 256, 2,048 and all
    20,000 points."""
    if "dense" not in get_target(target).graphs:  # a KAN lowers to dense Gemm/PWL layers (Target.graphs)
        raise CompileError(f"{checkpoint}: a KAN compiles to {' or '.join(targets_for('dense'))} (dense Gemm + Relu "
                           f"graphs); target '{target}' runs spiking graphs")
    front = kan_float_net(checkpoint, pwl_segments, lowering=lowering)
    compiled = compile_net(front, target, calibrate)
    compiled.graph.metadata["checkpoint"] = str(checkpoint)
    if evaluate:
        splits = splits_of_graph(front.graph)
        compiled.report["mse"] = evaluate_kan(front, compiled.graph, splits.x_test.numpy(), splits.y_test.numpy())
    return compiled


def evaluate_kan(front, graph, x: np.ndarray, y: np.ndarray) -> dict:
    """Test-split MSE of the PyTorch model, its order-2 form (if approximated), the float
    graph and the deployed graph; the deployed graph's largest deviation from PyTorch."""
    source = torch_values(front.source, x)
    float_graph, _ = deploy.run(front.graph, x[:, None, :].astype(np.float32))
    deployed, _ = deploy.run(graph, x[:, None, :])
    out = {"split": "test", "samples": int(len(y)), "float_torch": _mse(source, y),
           "float_graph": _mse(float_graph, y), "deployed": _mse(deployed, y),
           "float_graph_max_abs_error": float(np.abs(float_graph - source).max()),
           "max_abs_error": float(np.abs(deployed - source).max())}
    if front.model is not front.source:
        pwl = torch_values(front.model, x)
        out["float_pwl"] = _mse(pwl, y)
        out["pwl_max_abs_error"] = float(np.abs(pwl - source).max())
    out["deployed_over_float"] = out["deployed"] / out["float_torch"]
    return out


def _mse(values: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(values, np.float64) - y) ** 2))


