"""KAN checkpoints: tensors and plain data only (`torch.load(path, weights_only=True)`).

Contents (format "snnc.kan/1")::

    format     "snnc.kan/1"
    kind       "kan"
    config     the run's `KanConfig` as a nested dict of plain values
    layers     [{"knots": (in, n+1) float64, "coef": (out, in, N) float64}, ...]  spline basis
    order      spline order r
    data       {"lo", "hi"}: the training range of f that normalised the outputs
    epoch      the epoch whose model this is (the one chosen on the validation split)
    level      its refinement level; intervals = config.kan.intervals * 2**level
    seconds    training time

A ReLU-basis model is stored as its spline form (exact, `KAN.to_spline`).
`load_kan(path)` rebuilds the model from the file alone; anything that is not
such a file is one `FormatError` naming it.
"""
from __future__ import annotations

import math
import os

import torch

from snnc.errors import ConfigError, FormatError
from snnc.io import atomic_path

from . import config as config_mod
from .knots import check_knots
from .layers import SplineKANLayer
from .model import KAN

KAN_FORMAT = "snnc.kan/1"
REQUIRED = ("format", "kind", "config", "layers", "order", "data", "epoch", "level")


def is_kan_checkpoint(path) -> bool:
    """Whether `path` reads as a checkpoint of kind "kan" (no error for anything else)."""
    if not os.path.isfile(path):   # a FIFO or device is never read; the SBNN loader names it
        return False
    from snnc.train.checkpoint import check_archive

    try:
        check_archive(path)        # sizes from the zip directory first: never inflate a bomb here
    except FormatError:
        return False               # the SBNN loader gives its own one-line error
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not ours to judge: the SBNN loader gives its own one-line error
        return False
    return isinstance(ckpt, dict) and ckpt.get("kind") == "kan"


def save_kan(path, model: KAN, cfg: config_mod.KanConfig, *, epoch: int, level: int,
             seconds: float, lo: float, hi: float) -> None:
    spline = model.to_spline()
    layers = [{"knots": layer.knots().detach().cpu().clone(), "coef": layer.coef.detach().cpu().clone()}
              for layer in spline.layers]
    state = {"format": KAN_FORMAT, "kind": "kan", "config": cfg.to_dict(), "layers": layers,
             "order": int(spline.layers[0].order), "data": {"lo": float(lo), "hi": float(hi)},
             "epoch": int(epoch), "level": int(level), "seconds": float(seconds)}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_kan(path) -> dict:
    """The checkpoint's contents, checked; `FormatError` naming `path` otherwise."""
    from snnc.train.checkpoint import read_tensors

    ckpt = read_tensors(path, "KAN checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != KAN_FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise FormatError(f"{path}: not a KAN checkpoint (format {got!r}, expected {KAN_FORMAT!r})")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise FormatError(f"{path}: KAN checkpoint lacks {', '.join(map(repr, missing))}")
    _check_contents(ckpt, path)
    return ckpt


def _check_contents(ckpt: dict, path) -> None:
    layers, data = ckpt["layers"], ckpt["data"]
    if not isinstance(layers, list) or not layers or not all(
            isinstance(la, dict) and isinstance(la.get("knots"), torch.Tensor)
            and isinstance(la.get("coef"), torch.Tensor) for la in layers):
        raise FormatError(f"{path}: 'layers' must be a list of {{'knots', 'coef'}} tensors")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), float) and math.isfinite(data[k])
                                             for k in ("lo", "hi")) or not data["lo"] < data["hi"]:
        raise FormatError(f"{path}: 'data' must hold finite floats lo < hi")
    for key in ("order", "epoch", "level"):
        if not isinstance(ckpt[key], int) or isinstance(ckpt[key], bool) or ckpt[key] < 0:
            raise FormatError(f"{path}: '{key}' must be a non-negative integer, got {str(ckpt[key])[:40]}")


def load_kan(path) -> tuple[KAN, config_mod.KanConfig, dict]:
    """``(model, config, checkpoint dict)`` rebuilt from `path` alone (float64, fixed knots).

    Knots that are not strictly increasing are one `ConfigError` naming the layer
    and the input."""
    ckpt = read_kan(path)
    try:
        cfg = config_mod.from_dict(ckpt["config"])
    except ConfigError as exc:
        raise FormatError(f"{path}: stored config: {exc}") from None
    layers = []
    for i, la in enumerate(ckpt["layers"]):
        knots = la["knots"].to(torch.float64)
        check_knots(knots, f"{path}: layer {i}")
        coef = la["coef"].to(torch.float64)
        if coef.dim() != 3 or (layers and coef.shape[1] != layers[-1].out_features):
            raise FormatError(f"{path}: layer {i}: coef shape {tuple(coef.shape)} does not follow "
                              f"the layer before")
        try:
            layers.append(SplineKANLayer(knots=knots, out_features=coef.shape[0], order=ckpt["order"],
                                         coef=coef))
        except ConfigError as exc:
            raise FormatError(f"{path}: layer {i}: {exc}") from None
    return KAN(layers), cfg, ckpt
