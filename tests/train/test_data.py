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
    sizes = [len(data.load("digits", split)) for split in ("train", "val", "test")]
    assert sizes == [1292, 145, 360]   # 10% of the 1437 training digits held out for validation


def test_validation_split_is_stratified_fixed_and_disjoint_from_train():
    y = data.load("digits", "train", val_fraction=0.0).tensors[1].numpy()   # the whole training file
    fit_idx, val_idx = data.validation_split(y, 0.1)
    assert not set(fit_idx) & set(val_idx) and len(fit_idx) + len(val_idx) == len(y)
    per_class = np.bincount(y[val_idx], minlength=10)
    assert np.all(np.abs(per_class - 0.1 * np.bincount(y)) <= 0.5)        # round(0.1 n_c) per class
    again, _ = data.validation_split(y, 0.1)
    np.testing.assert_array_equal(fit_idx, again)                          # fixed seed: same every call
    train = data.load("digits", "train", steps=2, seed=5)
    val = data.load("digits", "val", steps=2, seed=5)
    full = data.load("digits", "train", steps=2, seed=5, val_fraction=0.0)
    assert torch.equal(train.tensors[0], full.tensors[0][fit_idx])
    assert torch.equal(val.tensors[1], full.tensors[1][val_idx])
    assert len(data.load("digits", "val", limit=9)) == 9
    assert torch.equal(data.load("digits", "test").tensors[1],              # test: untouched by the split
                       data.load("digits", "test", val_fraction=0.3).tensors[1])


def test_validation_split_keeps_a_single_sample_class_for_training():
    fit_idx, val_idx = data.validation_split(np.array([0, 1, 1, 1, 1, 1, 2]), 0.2)
    assert val_idx.tolist() in ([1], [2], [3], [4], [5]) and 0 in fit_idx and 6 in fit_idx


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
        lambda: data.load("digits", "validation"),
        lambda: data.load("digits", "val", val_fraction=0.9),
        lambda: data.load("digits", "train", encoding="phase"),
        lambda: data.load("digits", "train", steps=0),
        lambda: data.load("digits-seq", "train", steps=4),
    ]
    for case in cases:
        with pytest.raises(ConfigError) as err:
            case()
        assert "\n" not in str(err.value)


def test_every_data_set_has_shape_and_classes():
    shapes = {name: data.input_shape(name) for name in data.DATASETS}
    assert shapes == {
        "digits": (8, 64), "digits-seq": (8, 8), "shd": (100, 700),
        "dvs": (49, 2, 32, 32), "cifar10": (1, 3, 32, 32),
    }
    assert [data.n_classes(name) for name in data.DATASETS] == [10, 10, 20, 11, 10]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to download (tonic goes through urllib) fails the test."""
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("a loader tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)


def assert_one_line(err, *fragments):
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert str(fragment) in message, message


# ---------------------------------------------------------------- SHD


def write_shd(path, samples):
    """An SHD-format HDF5 file: samples are (times in s, units, label)."""
    import h5py

    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i], units[i] = np.asarray(t, np.float16), np.asarray(u, np.uint16)
        f["labels"] = np.array([label for _, _, label in samples], np.uint16)
        f["extra/speaker"] = np.arange(len(samples), dtype=np.uint16)
        f["extra/keys"] = np.array([f"english-{i}".encode() for i in range(20)])
        f["extra/meta_info/gender"] = np.array([b"female"] * 12)
        f["extra/meta_info/age"] = np.full(12, 30, np.uint16)
        f["extra/meta_info/body_height"] = np.full(12, 170, np.uint16)


SHD_TRAIN = [
    ([0.0, 0.5, 0.5, 1.39, 1.5], [0, 3, 3, 699, 5], 7),    # 1.5 s lies outside the window
    ([0.25], [10], 19),
    ([], [], 0),
]


@pytest.fixture
def shd_root(tmp_path):
    write_shd(tmp_path / "shd_train.h5", SHD_TRAIN)
    write_shd(tmp_path / "shd_test.h5", SHD_TRAIN[:1])
    return tmp_path


def test_shd_bins_known_spikes(shd_root):
    ds = data.load("shd", "train", root=shd_root)
    assert len(ds) == 3
    x, y = ds[0]
    assert x.shape == (100, 700) and x.dtype == torch.float32 and y.dtype == torch.int64 and int(y) == 7
    assert x[0, 0] == 1 and x[35, 3] == 2 and x[99, 699] == 1     # 0.5 s / 14 ms = bin 35
    assert x.sum() == 4
    x7 = data.load("shd", "train", root=shd_root, steps=7)[0][0]   # 200 ms bins
    assert x7.shape == (7, 700) and x7[2, 3] == 2 and x7[6, 699] == 1
    assert int(ds[1][1]) == 19 and ds[1][0][17, 10] == 1          # 0.25 s / 14 ms = 17.9
    assert ds[2][0].sum() == 0 and ds[-1][0].shape == (100, 700)
    assert data.load("shd", "train", root=shd_root, encoding="binary")[0][0][35, 3] == 1
    assert len(data.load("shd", "test", root=shd_root)) == 1
    assert len(data.load("shd", "train", root=shd_root, limit=2)) == 2


def test_shd_reads_tonics_own_layout(tmp_path):
    (tmp_path / "SHD").mkdir()
    write_shd(tmp_path / "SHD" / "shd_test.h5", SHD_TRAIN[1:2])
    assert int(data.load("shd", "test", root=tmp_path)[0][1]) == 19


def test_shd_missing_files_say_where_to_put_them(tmp_path):
    from snnc.errors import InputError

    with pytest.raises(InputError) as err:
        data.load("shd", "train", root=tmp_path / "nowhere")
    assert_one_line(err, tmp_path / "nowhere" / "shd_train.h5", "put SHD's shd_train.h5")
    write_shd(tmp_path / "shd_train.h5", SHD_TRAIN)      # the test file is still absent
    with pytest.raises(InputError) as err:
        data.load("shd", "test", root=tmp_path)
    assert_one_line(err, tmp_path / "shd_test.h5")


def test_shd_wrong_files_name_the_file(tmp_path):
    import h5py

    from snnc.errors import FormatError

    def load_first(folder_name, write):
        # a fresh folder per case: tonic leaves its HDF5 handles open until collected
        path = tmp_path / folder_name / "shd_train.h5"
        path.parent.mkdir()
        write(path)
        with pytest.raises(FormatError) as err:
            data.load("shd", "train", root=path.parent)[0]
        return path, err

    def no_spikes(path):
        with h5py.File(path, "w") as f:
            f["labels"] = np.zeros(2, np.uint8)

    path, err = load_first("keys", no_spikes)
    assert_one_line(err, path, "spikes/times")
    path, err = load_first("bytes", lambda path: path.write_bytes(b"not hdf5 at all"))
    assert_one_line(err, path, "not an HDF5 file")
    path, err = load_first("unit", lambda path: write_shd(path, [([0.1], [700], 0)]))  # 700 channels: 0..699
    assert_one_line(err, path, "sample 0")
    path, err = load_first("label", lambda path: write_shd(path, [([0.1], [1], 20)]))
    assert_one_line(err, path, "labels")


# ---------------------------------------------------------------- DVS Gesture


def write_dvs_sample(path, events, dtype=np.int64):
    """One tonic-preprocessed DVS Gesture sample: [N, 4] of x, y, p, t (ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(events, dtype=dtype))


def ramp_events(n=50, step_ms=10):
    """Events at t = 0, 10, ..., 490 ms on sensor row 4, which the bilinear resize never samples."""
    t = np.arange(n) * step_ms
    return np.stack([(t // 10) % 128, np.full(n, 4), t % 2, t], axis=1)


@pytest.fixture
def dvs_root(tmp_path):
    train = tmp_path / "ibmGestureTrain"
    events = ramp_events()
    events[25] = [65, 101, 1, 250]                        # the known event
    write_dvs_sample(train / "user01_fluorescent" / "3.npy", events)
    write_dvs_sample(train / "user01_fluorescent" / "10.npy", ramp_events())
    write_dvs_sample(train / "user02_led" / "0.npy", ramp_events(), dtype=np.float64)
    write_dvs_sample(tmp_path / "ibmGestureTest" / "user24_natural" / "5.npy", ramp_events())
    return tmp_path


def test_dvs_bins_equal_event_counts_and_resizes_as_the_authors(dvs_root):
    ds = data.load("dvs", "train", root=dvs_root, steps=3)
    assert len(ds) == 3
    x, y = ds[0]                                          # sorted: user01 .../10.npy first
    assert int(y) == 10 and x.shape == (3, 2, 32, 32) and x.dtype == torch.float32
    x, y = ds[1]
    assert int(y) == 3
    # 50 events, int(3 / 0.6) = 5 equal-count bins of 10 events, the first 3 kept:
    # event 25 (sensor x 65, y 101) is in bin 2; bilinear 128 -> 32 samples sensor
    # pixels 4i+1..4i+2, so it lands in frame pixel (25, 16) with weight 1/4
    assert x[2, 1, 25, 16] == 0.25 and x.sum() == 0.25    # the ramp's row 4 is not sampled
    assert data.load("dvs", "train", root=dvs_root)[1][0].shape == (49, 2, 32, 32)
    test = data.load("dvs", "test", root=dvs_root)
    assert len(test) == 1 and int(test[0][1]) == 5
    assert [int(y) for _, y in data.load("dvs", "train", root=dvs_root, limit=2)] == [10, 3]


def test_dvs_validation_holds_out_whole_users(tmp_path):
    """Validation users are never seen in training (as the test's users 24-29 are not)."""
    train = tmp_path / "ibmGestureTrain"
    for user in range(1, 6):
        for label in (0, 4, 7):
            write_dvs_sample(train / f"user{user:02d}_led" / f"{label}.npy", ramp_events())
    write_dvs_sample(tmp_path / "ibmGestureTest" / "user24_led" / "0.npy", ramp_events())
    fit = data.load("dvs", "train", root=tmp_path, steps=2, val_fraction=0.4)
    val = data.load("dvs", "val", root=tmp_path, steps=2, val_fraction=0.4)
    from snnc.train.data import dvs
    users = dvs.load("train", root=tmp_path, steps=2).groups                            # all 15, in file order
    fit_users = {users[i] for i in fit.indices}
    val_users = {users[i] for i in val.indices}
    assert len(val_users) == 2 and len(fit_users) == 3 and not fit_users & val_users   # round(0.4 * 5)
    assert len(val) == 6 and len(fit) == 9 and sorted(int(y) for _, y in val) == [0, 0, 4, 4, 7, 7]
    subset = data.load("dvs", "val", root=tmp_path, steps=2, val_fraction=0.4, classes=[7, 0])
    assert sorted(int(y) for _, y in subset) == [0, 0, 1, 1]                             # same users


def test_dvs_frames_match_a_direct_count_and_resize():
    """Equal-count bins (not equal time): a burst of events at the start fills the early bins."""
    import torch.nn.functional as F

    from snnc.train.data import dvs

    rng = np.random.default_rng(0)
    n = 600
    events = np.zeros(n, dtype=[("x", "<i8"), ("y", "<i8"), ("p", "<i8"), ("t", "<i8")])
    events["x"], events["y"], events["p"] = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    events["t"] = np.sort(np.concatenate([rng.integers(0, 10, 500), rng.integers(10, 1000, 100)]))
    frames = dvs.GestureFrames(6)(events)                  # 10 bins of 60 events, first 6 kept
    counts = np.zeros((6, 2, 128, 128), np.float32)
    for b in range(6):
        for e in events[b * 60:(b + 1) * 60]:
            counts[b, e["p"], e["y"], e["x"]] += 1
    expected = F.interpolate(torch.from_numpy(counts), size=(32, 32), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(frames, expected.numpy(), atol=1e-6)
    full = counts[:, :, 1::4, 1::4] + counts[:, :, 2::4, 1::4] + counts[:, :, 1::4, 2::4] + counts[:, :, 2::4, 2::4]
    np.testing.assert_allclose(frames, full / 4, atol=1e-6)   # the mean of sensor pixels 4i+1..4i+2


def test_dvs_missing_folder_says_where_to_put_files(tmp_path):
    from snnc.errors import InputError

    with pytest.raises(InputError) as err:
        data.load("dvs", "train", root=tmp_path)
    assert_one_line(err, tmp_path / "ibmGestureTrain", "userNN_<lighting>/<label>.npy")
    (tmp_path / "ibmGestureTest").mkdir()                 # present but empty: tonic would download
    with pytest.raises(InputError) as err:
        data.load("dvs", "test", root=tmp_path)
    assert_one_line(err, tmp_path / "ibmGestureTest")


def test_dvs_wrong_files_name_the_file(tmp_path):
    from snnc.errors import FormatError

    bad = tmp_path / "ibmGestureTrain" / "user01_led" / "2.npy"
    write_dvs_sample(bad, np.zeros((10, 3)))
    with pytest.raises(FormatError) as err:
        data.load("dvs", "train", root=tmp_path)[0]
    assert_one_line(err, bad, "[N, 4]")
    write_dvs_sample(bad, [[200, 0, 0, 0], [0, 0, 0, 10]])  # x beyond the 128x128 sensor
    with pytest.raises(FormatError) as err:
        data.load("dvs", "train", root=tmp_path)[0]
    assert_one_line(err, bad)
    write_dvs_sample(bad.with_name("12.npy"), ramp_events())
    with pytest.raises(FormatError) as err:
        data.load("dvs", "train", root=tmp_path)
    assert_one_line(err, bad.with_name("12.npy"), "label")


# ---------------------------------------------------------------- CIFAR-10


def write_cifar_batch(path, labels, seed=0):
    """A CIFAR-10 python batch: a pickled dict like the real ones."""
    import pickle

    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": list(labels),
        b"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return batch


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    batches = [write_cifar_batch(folder / f"data_batch_{i}", [i, 9, 0], seed=i) for i in range(1, 6)]
    batches.append(write_cifar_batch(folder / "test_batch", [3, 4], seed=9))
    return tmp_path, batches


def test_cifar_images_and_labels(cifar_root):
    root, batches = cifar_root
    ds = data.load("cifar10", "train", root=root, val_fraction=0.0)   # the whole training file
    assert len(ds) == 15
    assert len(data.load("cifar10", "train", root=root)) == 13        # one 9 and one 0 held out
    x, y = ds[3]                                          # first image of data_batch_2
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32 and int(y) == 2
    pixels = batches[1][b"data"][0]
    assert x[0, 0, 0, 1] == pixels[1] / 255 and x[0, 1, 0, 0] == pixels[1024] / 255
    assert x[0, 2, 31, 31] == pixels[3071] / 255 and 0 <= x.min() and x.max() <= 1
    test = data.load("cifar10", "test", root=root)
    assert [int(y) for _, y in test] == [3, 4]
    assert len(data.load("cifar10", "train", root=root, limit=4)) == 4
    assert [int(y) for _, y in data.load("cifar10", "val", root=root)] == [9, 0] or \
        sorted(int(y) for _, y in data.load("cifar10", "val", root=root)) == [0, 9]
    assert data.load("cifar10", "test", root=root / "cifar-10-batches-py")[0][0].shape == (1, 3, 32, 32)


def test_cifar_normalised_and_rate_codes(cifar_root):
    root, _ = cifar_root
    plain = data.load("cifar10", "train", root=root)[0][0]
    normed = data.load("cifar10", "train", root=root, normalize=True)[0][0]
    assert torch.allclose(normed[0, 0], (plain[0, 0] - 0.4914) / 0.2470)
    rate = data.load("cifar10", "train", root=root, steps=4, encoding="rate", seed=1)
    assert rate[0][0].shape == (4, 3, 32, 32) and set(rate[0][0].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(rate[0][0], rate[0][0]) and not torch.equal(rate[0][0], rate[1][0])
    with pytest.raises(ConfigError):
        data.load("cifar10", "train", root=root, encoding="rate", normalize=True)


def test_cifar_missing_files_say_where_to_put_them(tmp_path):
    from snnc.errors import InputError

    with pytest.raises(InputError) as err:
        data.load("cifar10", "train", root=tmp_path)
    assert_one_line(err, tmp_path / "cifar-10-batches-py", "cifar-10-python.tar.gz")
    write_cifar_batch(tmp_path / "cifar-10-batches-py" / "data_batch_1", [0])
    with pytest.raises(InputError) as err:
        data.load("cifar10", "train", root=tmp_path)
    assert_one_line(err, tmp_path / "cifar-10-batches-py" / "data_batch_2")


def test_cifar_wrong_batch_names_the_file(tmp_path):
    import pickle

    from snnc.errors import FormatError

    bad = tmp_path / "cifar-10-batches-py" / "test_batch"
    bad.parent.mkdir()
    for content, fragment in [
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "[N, 3072]"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "b'labels'"),
        (pickle.dumps([1, 2, 3]), "b'data'"),
        (b"\x80\x04garbage", "not a CIFAR-10 python batch"),
    ]:
        bad.write_bytes(content)
        with pytest.raises(FormatError) as err:
            data.load("cifar10", "test", root=tmp_path)
        assert_one_line(err, bad, fragment)


class _Exploit:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        import os

        return os.system, ("touch pwned",)


def test_cifar_refuses_a_malicious_pickle(tmp_path, monkeypatch):
    import pickle

    from snnc.errors import FormatError

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "test_batch"
    bad.parent.mkdir()
    bad.write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": [0]}))
    with pytest.raises(FormatError) as err:
        data.load("cifar10", "test", root=tmp_path)
    assert_one_line(err, bad, "refused to unpickle", "system")
    assert not (tmp_path / "pwned").exists()


def test_cifar_reads_python2_era_numpy_pickles(tmp_path):
    """The real batches name numpy.core.multiarray and are protocol 2."""
    import pickle

    from snnc.train.data import cifar10

    batch = {b"data": np.arange(3072 * 2, dtype=np.uint64).astype(np.uint8).reshape(2, 3072), b"labels": [1, 2]}
    raw = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "test_batch"
    path.write_bytes(raw)
    images, labels = cifar10.read_batch(path)
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [1, 2]
    np.testing.assert_array_equal(images.reshape(2, -1), batch[b"data"])


@pytest.mark.parametrize("name", ["shd", "dvs", "cifar10"])
def test_file_backed_data_sets_pickle_for_dataloader_workers(name, shd_root, dvs_root, cifar_root):
    import pickle

    root = {"shd": shd_root, "dvs": dvs_root, "cifar10": cifar_root[0]}[name]
    ds = data.load(name, "train", root=root, encoding="binary" if name != "cifar10" else "rate")
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[0][0], ds[0][0]) and len(clone) == len(ds)
    batch, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch.shape == (2, *data.input_shape(name, ds[0][0].shape[0])) and labels.dtype == torch.int64


def test_crop_and_flip_shifts_and_mirrors_whole_samples():
    from snnc.train.data.augment import crop_and_flip

    x = torch.arange(2 * 1 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 1, 3, 8, 8) + 1
    gen = torch.Generator().manual_seed(0)
    out = crop_and_flip(x, gen, padding=2)
    assert out.shape == x.shape
    for b in range(2):   # each output is a shifted (zero-filled) window of x or of its mirror
        pad = torch.nn.functional.pad(x[b], (2, 2, 2, 2))
        windows = [pad[..., i:i + 8, j:j + 8] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) or torch.equal(out[b], w.flip(-1)) for w in windows)
    again = crop_and_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(out, again)                     # seeded: a resumed run repeats it
    outs = {tuple(crop_and_flip(x, torch.Generator().manual_seed(s), padding=2).flatten()[:64].tolist()) for s in range(6)}
    assert len(outs) > 1                               # and it does move samples
