"""Every shipped config parses; the target-aware ones keep to their chip's rules."""
import math
from pathlib import Path

import pytest

from snnc.train import config as config_mod

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_config_parses(path):
    config_mod.load(path)


def test_loihi_config_is_what_lava_runs():
    m = config_mod.load(CONFIGS / "digits_loihi.toml").model
    dv = (1.0 - m.beta) * 4096
    assert dv == int(dv) and 0 <= dv <= 4095          # beta = 1 - dv/4096 exactly
    assert (m.syn_beta, m.reset, m.max_spikes, m.bias, m.theta) == (0.0, "zero", 1, False, 1.0)
    assert max(m.hidden) <= 1024 and m.readout == "mean"


def test_xylo_config_is_what_xylosim_runs():
    cfg = config_mod.load(CONFIGS / "digits_seq_xylo.toml")
    m, d = cfg.model, cfg.data
    for decay in (m.beta, m.syn_beta, m.readout_alpha):
        dash = -math.log2(1.0 - decay)                 # decay = 1 - 2^-dash
        assert dash == int(dash) and dash >= 1
    assert d.classes == list(range(8)) and d.max_count == 15
    assert m.name == "srnn" and m.hidden == [64]      # 64 recurrent targets at most
    assert (m.reset, m.max_spikes, m.bias, m.readout, m.theta) == ("soft", 31, False, "cuba", 1.0)
