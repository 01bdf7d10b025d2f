"""KAN networks ``[d_0, d_1, ..., d_L]``: a stack of spline (or ReLU-basis) KAN layers.

Grids.  The first layer's grid is the data's domain.  A hidden layer sees sums
of splines, whose range is not known in advance and moves while training (on
the benchmark problem it ends near [-0.7, 0.7], or [-1.5, 0.9] from a linear
init).  A plain B-spline sum is zero beyond its extended knots: a hidden value
off the grid gives zero output and zero gradient, so a ``[0, 1]`` grid on
layer 2 would lose every negative hidden value.  We continue every spline
beyond its end knots with the polynomial of its end interval (linear for
``r = 2``): the model is defined and differentiable everywhere, the ReLU form
computes the same extension exactly, and the grid only decides where the
resolution is.  Hidden grids are on ``[-1, 1]`` (``HIDDEN_DOMAIN``), where the
inits below put every hidden value.  Measured (benchmark problem, multilevel,
seed 0, train MSE random / linear init): hidden grid ``[0, 1]`` 5.2e-5 / 1.3e-5,
``[-1, 1]`` 2.8e-5 / 1.8e-5, ``[-4, 4]`` 2.9e-5 / 2.9e-5: with the extension
even ``[0, 1]`` trains; a wide grid spends knots where no value falls.

Inits (``init=``):

- ``"random"``: coefficients ``N(0, init_scale^2)``: a rough function at every
  resolution (the fine-only model starts rougher than the coarse one);
- ``"linear"``: every edge starts as the straight line ``a_qp x`` with
  ``a_qp ~ U(-1, 1) / d_in`` (coefficients = ``a_qp`` times the Greville
  abscissae: exact for any order), so the net starts as a linear map and a
  hidden value stays within ``[-1, 1]`` when the inputs do.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from snnc.errors import ConfigError

from .layers import ReluKANLayer, SplineKANLayer
from .refine import refine_coef, refine_weight

HIDDEN_DOMAIN = (-1.0, 1.0)
INITS = ("random", "linear")
BASES = ("spline", "relu")
INIT_SCALE = 0.1   # estimate (pykan starts its splines with noise 0.3); small keeps hidden values inside [-1, 1]


class KAN(nn.Module):
    """A stack of KAN layers of one basis; ``forward(x)`` is the composition."""

    def __init__(self, layers: list[SplineKANLayer] | list[ReluKANLayer]):
        super().__init__()
        kinds = {type(layer) for layer in layers}
        if len(kinds) != 1 or not kinds <= {SplineKANLayer, ReluKANLayer}:
            raise ConfigError("layers: expected a non-empty list of one kind of KAN layer")
        self.layers = nn.ModuleList(layers)

    @property
    def basis(self) -> str:
        return "spline" if isinstance(self.layers[0], SplineKANLayer) else "relu"

    @property
    def widths(self) -> list[int]:
        return [self.layers[0].in_features] + [layer.out_features for layer in self.layers]

    @property
    def intervals(self) -> int:
        return self.layers[0].intervals

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def set_free_knots(self, free: bool) -> None:
        """Switch knot training on or off in every layer (the knots keep their places)."""
        for layer in self.layers:
            layer.knots.free = free

    def to_relu(self) -> "KAN":
        return self if self.basis == "relu" else KAN([layer.to_relu() for layer in self.layers])

    def to_spline(self) -> "KAN":
        return self if self.basis == "spline" else KAN([layer.to_spline() for layer in self.layers])

    def refined(self) -> "KAN":
        """The model with every interval of every layer halved: the same function."""
        return KAN([_refine_layer(layer) for layer in self.layers])


def _refine_layer(layer):
    kw = dict(out_features=layer.out_features, order=layer.order, free_knots=layer.knots.free)
    if isinstance(layer, SplineKANLayer):
        knots, coef = refine_coef(layer.coef, layer.knots(), layer.order)
        return SplineKANLayer(knots=knots, coef=coef, **kw)
    knots, weight = refine_weight(layer.weight, layer.knots(), layer.order)
    return ReluKANLayer(knots=knots, weight=weight, **kw)


def build_kan(widths: list[int], intervals: int, order: int = 2, domain=(0.0, 1.0),
              init: str = "random", init_scale: float = INIT_SCALE, basis: str = "spline",
              free_knots: bool = False, generator: torch.Generator | None = None,
              dtype=torch.float64) -> KAN:
    """A KAN on ``domain`` (first layer) and ``HIDDEN_DOMAIN`` (the others), initialised by ``init``."""
    if init not in INITS:
        raise ConfigError(f"init: must be one of {INITS}, got {init!r}")
    if basis not in BASES:
        raise ConfigError(f"basis: must be one of {BASES}, got {basis!r}")
    if len(widths) < 2:
        raise ConfigError(f"widths: need at least [inputs, outputs], got {widths!r}")
    layers = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        layer = SplineKANLayer(d_in, d_out, intervals, order, domain if i == 0 else HIDDEN_DOMAIN,
                               free_knots=free_knots, dtype=dtype)
        with torch.no_grad():
            layer.coef.copy_(_init_coef(layer, init, init_scale, generator))
        layers.append(layer)
    model = KAN(layers)
    return model.to_relu() if basis == "relu" else model


def _init_coef(layer: SplineKANLayer, init: str, scale: float, generator) -> Tensor:
    shape = layer.coef.shape
    if init == "random":
        return scale * torch.randn(shape, generator=generator, dtype=layer.coef.dtype)
    slope = (2 * torch.rand(shape[:2], generator=generator, dtype=layer.coef.dtype) - 1) / shape[1]
    return slope.unsqueeze(-1) * layer.greville().unsqueeze(0)


def parameter_count(model: nn.Module) -> int:
    """Trainable numbers (free knots included when they train)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
