"""`ideal`'s Conv2d: float64 sums of the float32 kernel, scaled by 2^weight_exp as a Dense's
(compiler/ir/conv.py gives the layout; runtime/conv.py delivers)."""
from __future__ import annotations

import numpy as np

from snnc.targets.registry import ConvArithmetic, register_conv


def _no_output(sums) -> None:
    """A float conv hands its sums on as they are."""


CONV = register_conv("ideal", ConvArithmetic(kernel=lambda node: node.weights.astype(np.float64),
                                             output=_no_output, joined_exp=lambda node: node.weight_exp))
