"""Bad simulation input and bad parameters: one-line errors naming the thing."""
import numpy as np
import pytest

import snnc
from snnc.errors import DesignRuleError, GraphError, InputError
from snnc.targets import loihi, xylo


@pytest.fixture
def chain():
    return loihi.graph_from_lava_layers([dict(weights=np.ones((3, 4), int), vth=1)], 4)


@pytest.mark.parametrize("x,expect", [
    (np.zeros((5, 3), int), "input has 3 channels but the graph's input 'input' (4) expects 4"),
    (np.zeros(5, int), "shape [T, N] or [B, T, N]"),
    (np.full((5, 4), 2), "binary (0/1)"),
    (-np.ones((5, 4), int), ">= 0"),
    (np.full((5, 4), 0.5), "integer counts"),
])
def test_bad_input(chain, x, expect):
    with pytest.raises(InputError) as info:
        snnc.runtime.simulate(chain, x)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_unknown_record_variable(chain):
    with pytest.raises(InputError, match="unknown state variable"):
        snnc.runtime.simulate(chain, np.zeros((2, 4), int), record=("w",))


def test_out_of_range_du_names_parameter():
    with pytest.raises(GraphError, match="'du' must lie in"):
        loihi.graph_from_lava_layers([dict(weights=np.ones((3, 4), int), du=4096)], 4)


def test_unknown_lava_key():
    with pytest.raises(GraphError, match="unknown parameter"):
        loihi.graph_from_lava_layers([dict(weights=np.ones((3, 4), int), tau=3)], 4)


def test_wrong_shaped_xylo_weight():
    with pytest.raises(GraphError, match="'w_rec' must have shape"):
        xylo.graph_from_xylo(np.ones((2, 3, 1), int), np.ones((4, 4, 1), int), np.ones((3, 2), int), 10, 10)


def test_xylo_design_rules():
    with pytest.raises(DesignRuleError, match="max-inputs"):
        xylo.graph_from_xylo(np.ones((17, 3, 1), int), np.zeros((3, 3, 1), int), np.ones((3, 2), int), 10, 10)
    with pytest.raises(DesignRuleError, match="max-fan-out"):  # 66 recurrent targets per hidden neuron
        xylo.graph_from_xylo(np.zeros((2, 66, 1), int), np.ones((66, 66, 1), int), np.zeros((66, 2), int), 10, 10)
    with pytest.raises(DesignRuleError, match="weight-shift"):
        xylo.graph_from_xylo(np.ones((2, 3, 1), int), np.zeros((3, 3, 1), int), np.ones((3, 2), int), 10, 10,
                             weight_shift_in=8)


def test_loihi_weight_exp_rule():
    with pytest.raises(DesignRuleError, match="weight-exp-range"):
        loihi.graph_from_lava_layers([dict(weights=np.ones((3, 4), int), weight_exp=9)], 4)


def test_unbatched_and_batched_shapes(chain):
    x = np.zeros((2, 6, 4), int)
    assert snnc.runtime.simulate(chain, x).spikes["lif0"].shape == (2, 6, 3)
    assert snnc.runtime.simulate(chain, x[0]).spikes["lif0"].shape == (6, 3)
