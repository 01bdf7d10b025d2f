"""KANs and their exact multichannel ReLU MLPs: spline layers, refinement, multilevel training.

The design is in SEEDS.md part 2 (Actor et al., arXiv 2505.18131; Southworth
et al., arXiv 2603.04827).  Layers: `SplineKANLayer` (sparse B-spline
evaluation) and `ReluKANLayer` (``ReLU(x - t_j)^(r-1)`` channels), converted
exactly both ways; `KAN.refined` halves every interval exactly;
`train_multilevel` runs nested iteration with L-BFGS or Adam.

The `snnc train` path for a TOML with a `[kan]` table: `config` (the TOML),
`problem` (the published 2-D regression and its splits), `run` (training,
run folder), `checkpoint` (the `snnc.kan/1` file that `snnc compile` reads).
"""
from .knots import Knots, check_knots, check_order, extend_knots, midpoints, uniform_knots
from .basis import active_basis, change_of_basis, dense_basis, interval_index, relu_channels
from .layers import ReluKANLayer, SplineKANLayer
from .model import HIDDEN_DOMAIN, KAN, build_kan, parameter_count
from .refine import injection, prolongation
from .multilevel import FitConfig, History, fit, mse, train_multilevel

__all__ = [
    "Knots", "check_knots", "check_order", "extend_knots", "midpoints", "uniform_knots",
    "active_basis", "change_of_basis", "dense_basis", "interval_index", "relu_channels",
    "ReluKANLayer", "SplineKANLayer", "HIDDEN_DOMAIN", "KAN", "build_kan", "parameter_count",
    "injection", "prolongation", "FitConfig", "History", "fit", "mse", "train_multilevel",
]
