"""Data loaders: the digits split and encodings, and the real-format readers
(SHD, DVS Gesture, CIFAR-10) on small files generated here in the exact
on-disk format. Nothing downloads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.errors import ConfigError
from snnc.train import data
from snnc.train.data import encoding

# ---------------------------------------------------------------- digits


def test_digits_split_sizes_and_disjoint():
    train_idx, test_idx = data.digits_split()
    assert (len(train_idx), len(test_idx)) == (1437, 360)
    assert not set(train_idx) & set(test_idx)
    assert len(set(train_idx) | set(test_idx)) == 1797
    assert (len(data.load("digits", "train")), len(data.load("digits", "test"))) == (1437, 360)


def test_digits_split_is_stratified_and_fixed():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    y = load_digits().target
    train_idx, test_idx = data.digits_split()
    expected_train, expected_test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=0)
    np.testing.assert_array_equal(train_idx, expected_train)
    np.testing.assert_array_equal(test_idx, expected_test)
    test_counts = np.bincount(y[test_idx], minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * np.bincount(y)) <= 1)
    labels = data.load("digits", "test").tensors[1]
    np.testing.assert_array_equal(labels.numpy(), y[test_idx])


def test_digits_shapes_dtypes_and_metadata():
    x, y = data.load("digits", "train", steps=5)[0]
    assert x.shape == (5, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert data.input_shape("digits", 5) == (5, 64) and data.input_shape("digits") == (8, 64)
    assert data.n_classes("digits") == 10 and data.n_classes("digits-seq") == 10
    assert data.load("digits", "test", steps=1, encoding="direct")[0][0].shape == (1, 64)
    assert len(data.load("digits", "train", limit=7)) == 7


def test_rate_code_is_reproducible_and_matches_intensity():
    a = data.load("digits", "train", steps=16, seed=3).tensors[0]
    b = data.load("digits", "train", steps=16, seed=3).tensors[0]
    c = data.load("digits", "train", steps=16, seed=4).tensors[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    intensity = data.load("digits", "train", steps=1, encoding="direct").tensors[0][:, 0]
    assert a.mean(dim=1).sub(intensity).mean().abs() < 0.01     # E[s] = p over all pixels
    assert torch.all(a.sum(dim=1)[intensity == 0] == 0)            # p = 0 never fires
    assert torch.all(a.sum(dim=1)[intensity == 1] == 16)           # p = 1 always fires


def test_rate_code_of_a_sample_does_not_depend_on_limit():
    full = data.load("digits", "train", seed=1).tensors[0]
    assert torch.equal(data.load("digits", "train", seed=1, limit=10).tensors[0], full[:10])


def test_latency_code_one_earlier_spike_for_brighter_pixels():
    x = data.load("digits", "train", steps=8, encoding="latency").tensors[0]
    intensity = data.load("digits", "train", steps=1, encoding="direct").tensors[0][:, 0]
    counts = x.sum(dim=1)
    assert torch.equal(counts, (intensity > 0).float())
    t_first = x.argmax(dim=1).float()
    assert torch.all(t_first[intensity == 1] == 0)
    bright, dim = (intensity >= 0.75), (intensity > 0) & (intensity <= 0.25)
    assert t_first[bright].max() < t_first[dim].min()


def test_latency_and_rate_values_by_hand():
    p = torch.tensor([0.0, 0.5, 1.0, 1 / 16])
    spikes = encoding.latency(p, steps=5)
    assert spikes.tolist() == [
        [0, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1],
    ]
    assert encoding.direct(p, 3).tolist() == [p.tolist()] * 3
    assert encoding.rate(torch.tensor([0.0, 1.0]), 4).tolist() == [[0.0, 1.0]] * 4


def test_direct_code_repeats_scaled_intensity():
    x = data.load("digits", "test", steps=3, encoding="direct").tensors[0]
    assert torch.equal(x[:, 0], x[:, 2]) and x.max() == 1.0 and x.min() == 0.0
    assert torch.all(x * 16 == (x * 16).round())


def test_digits_seq_rows_are_time_columns_are_channels():
    from sklearn.datasets import load_digits

    images = load_digits().images
    ds = data.load("digits-seq", "test")
    x, y = ds[0]
    assert x.shape == (8, 8) == data.input_shape("digits-seq")
    idx = data.digits_split()[1][0]
    np.testing.assert_array_equal(x.numpy(), images[idx])
    assert int(y) == load_digits().target[idx] and len(ds) == 360
    assert ds.tensors[0].max() <= 16


def test_bad_name_split_encoding_steps_are_one_line_config_errors():
    cases = [
        lambda: data.load("mnist", "train"),
        lambda: data.load("digits", "val"),
        lambda: data.load("digits", "train", encoding="phase"),
        lambda: data.load("digits", "train", steps=0),
        lambda: data.load("digits-seq", "train", steps=4),
    ]
    for case in cases:
        with pytest.raises(ConfigError) as err:
            case()
        assert "\n" not in str(err.value)
