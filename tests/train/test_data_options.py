"""data.classes (subset, relabelled in the order given) and data.max_count (digits-seq)."""
import pytest
import torch
from torch.utils.data import Dataset

from snnc.errors import ConfigError
from snnc.train import config as config_mod
from snnc.train import data
from snnc.train.data import digits
from snnc.train.trainer import build_setup, Dist


def test_class_subset_keeps_and_relabels_in_the_given_order():
    full = data.load("digits", "test", steps=2)
    sub = data.load("digits", "test", steps=2, classes=[3, 1])
    x_full, y_full = full.tensors
    x_sub, y_sub = sub.tensors
    keep = (y_full == 3) | (y_full == 1)
    assert len(sub) == int(keep.sum()) and set(y_sub.tolist()) == {0, 1}
    assert torch.equal(x_sub, x_full[keep])
    assert torch.equal(y_sub, torch.where(y_full[keep] == 3, 0, 1))
    assert data.n_classes("digits", [3, 1]) == 2 and data.n_classes("digits") == 10


def test_class_subset_of_a_lazy_dataset():
    class Lazy(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return torch.full((2, 1), float(i)), torch.tensor(i % 3)

    sub = data.select_classes(Lazy(), [2, 0])
    assert len(sub) == 4
    assert [(float(x[0, 0]), int(y)) for x, y in (sub[i] for i in range(4))] == [(0, 1), (2, 0), (3, 1), (5, 0)]


def test_class_subset_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"data.classes: 10 is not a label of digits \(0..9\)"):
        data.load("digits", "train", steps=2, classes=[1, 10])
    with pytest.raises(ConfigError, match="data.classes: needs distinct labels"):
        data.n_classes("digits", [])


def test_trainer_takes_the_class_count_from_the_config():
    cfg = config_mod.from_dict({"data": {"name": "digits-seq", "classes": [0, 1, 2, 3, 4, 5, 6, 7], "limit": 50},
                                "model": {"name": "srnn", "hidden": [4]}, "train": {"threads": 1}})
    setup = build_setup(cfg, Dist())
    assert setup.n_classes == 8 and setup.core.readout.fc.out_features == 8
    assert int(setup.train_set.tensors[1].max()) <= 7


def test_max_count_clips_digits_seq_counts():
    raw = data.load("digits-seq", "train").tensors[0]
    clipped = data.load("digits-seq", "train", max_count=15).tensors[0]
    assert float(raw.max()) == digits.MAX_INTENSITY  # the clip has something to do
    assert torch.equal(clipped, raw.clamp(max=15)) and float(clipped.max()) == 15
    assert torch.equal(data.load("digits-seq", "train", max_count=3).tensors[0], raw.clamp(max=3))
    with pytest.raises(ConfigError, match="data.max_count: must be an integer >= 1"):
        data.load("digits-seq", "train", max_count=0)



def test_max_count_of_a_data_set_without_counts_names_the_key():
    assert len(data.load("digits", "test", steps=2, max_count=None)) == 360
    with pytest.raises(ConfigError, match="data.max_count: only digits-seq"):
        data.load("digits", "test", steps=2, max_count=15)
