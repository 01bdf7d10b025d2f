"""Every shipped config parses; the target-aware ones keep to their chip's rules."""
import math
from pathlib import Path

import pytest

from snnc.train import config as config_mod

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Configs with a [kan] table are KAN runs (`snnc.train.kan`), read by their own loader.
SNN_CONFIGS = sorted(p for p in CONFIGS.glob("*.toml") if "kan" not in config_mod.tomllib.loads(p.read_text()))


@pytest.mark.parametrize("path", SNN_CONFIGS, ids=lambda p: p.name)
def test_shipped_config_parses(path):
    config_mod.load(path)


def test_authors_schedules_end_at_their_lr_floors():
    # train_shd.py: min_lr = lr_init / 10; train_dvs.py and train_cifar.py: lr_init / 50
    floors = {name: config_mod.load(CONFIGS / f"{name}.toml").train.lr_floor
              for name in ("shd_sbnn", "dvs_sbnn", "cifar10_sbnn")}
    assert floors == {"shd_sbnn": 0.1, "dvs_sbnn": 0.02, "cifar10_sbnn": 0.02}
    cifar = config_mod.load(CONFIGS / "cifar10_sbnn.toml").data
    assert cifar.augment and cifar.normalize


def test_old_bias_lambda_key_reads_as_margin_lambda(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text("[loss]\nbias_lambda = 0.5\n")
    with pytest.warns(FutureWarning, match="loss.bias_lambda is now called loss.margin_lambda"):
        assert config_mod.load(path).loss.margin_lambda == 0.5
    assert config_mod.from_dict({"loss": {"bias_lambda": 0.25}}).loss.margin_lambda == 0.25
    with pytest.raises(config_mod.ConfigError, match="give only loss.margin_lambda"):
        config_mod.from_dict({"loss": {"bias_lambda": 0.25, "margin_lambda": 0.1}})
    for bad in ({"data": {"val_fraction": 0.7}}, {"data": {"augment": True}},
                {"train": {"lr_floor": 0.1, "schedule": "constant"}}):
        with pytest.raises(config_mod.ConfigError):
            config_mod.from_dict(bad)


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
