"""Training configuration: TOML sections mapped onto dataclasses with defaults.

    [data]      name, steps, encoding, root, limit, classes, max_count, val_fraction,
                normalize, augment
    [model]     name, neuron, hidden, widths, blocks, tau_mem, beta, syn_beta, theta, reset,
                max_spikes, bias, init, snr, readout, readout_tau, readout_alpha, ...
    [method]    name ("sbnn" | "sg"), estimator, tau, k, noise, relaxation, surrogate_width, batchnorm,
                sg_neuron ("snntorch": snnTorch's Leaky; "target": the SBNN's own LIF step with
                the surrogate spike, i.e. the dynamics `compile` deploys)
    [loss]      kl_weight, margin_lambda, rate_weight, rate_target, synops_weight, synops_budget
    [train]     epochs, batch_size, lr, sigma_lr, affine_lr, schedule, lr_floor, seed, device, eval_samples
    [baseline]  sg (train the SG baseline on the same net too), lr, batchnorm

An unknown section or key, or a value of the wrong type or outside its range,
raises `ConfigError` with one line naming it (`model.hiden: unknown key`).

Keys that make the trained dynamics the ones a chip runs (see `neurons` and
`models` for the equations):

    data.classes      keep only these labels, relabelled 0..n-1 in the order given
                      (both splits); the model's class count is len(classes)
    data.max_count    digits-seq: clip each input count per step at this value
                      (Xylo's inputs take at most 15 spikes per step)
    model.beta        membrane decay per step; overrides beta = exp(-1/tau_mem)
                      (Loihi: 1 - dv/4096; Xylo: 1 - 2^-dash_mem)
    model.syn_beta    synaptic current decay (0: no current state, the one-state LIF;
                      Loihi du = 4095); cur = syn_beta (cur + mu), mem = beta mem + cur
    model.max_spikes  spikes a LIF neuron may emit per step (1..31; Xylo: up to 31)
    model.bias        hidden Bayesian linear layers have a bias (the readout always has)
    model.readout     "mean" | "leaky" (readout_tau) | "cuba" (readout_alpha): the
                      weights over time of `net_base.readout_weights`

Model selection: `data.val_fraction` of the training data (stratified by label,
seed VALIDATION_SEED, the same samples whatever `train.seed`) is held out as the
validation split; every choice (lr, readout, tau) is made on it and the test
split is read once, at the end (see `snnc.train.data`).

`loss.bias_lambda` is the old name of `loss.margin_lambda` (the weight of the
auxiliary margin penalty mean((u - theta)/S)^2): a config that uses it still
loads (a TOML file says so in one warning line), a stored checkpoint config too.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from snnc.errors import ConfigError
from snnc.train.estimators import ESTIMATORS

# The validation split (see `snnc.train.data.load`): one fixed stratified share of the
# training data, carved with its own seed so that it does not move with train.seed.
VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 0
MAX_VALIDATION_FRACTION = 0.5

CHOICES = {
    "data.name": ("digits", "digits-seq", "shd", "dvs", "cifar10"),
    "model.name": ("mlp", "srnn", "resnet"),
    "model.neuron": ("lif", "binary"),
    "model.reset": ("soft", "zero"),
    "model.init": ("noise_aware", "authors"),
    "model.posterior": ("layer", "weight"),
    "model.readout": ("mean", "leaky", "cuba"),
    "model.affine": ("none", "step", "channel_positive"),
    "method.name": ("sbnn", "sg"),
    "model.shortcut": ("avgpool_pad", "none"),
    "method.sg_neuron": ("snntorch", "target"),
    "method.estimator": ESTIMATORS,
    "method.noise": ("gaussian", "logistic"),
    "method.relaxation": ("sigmoid", "normal"),
    "train.schedule": ("cosine", "constant"),   # cosine: from lr down to lr * lr_floor
    "train.device": ("auto", "cpu", "cuda"),
}
POSITIVE = {"data.steps", "data.limit", "model.tau_mem", "model.snr", "model.prior_scale", "model.readout_tau",
            "method.tau", "method.k", "method.surrogate_width", "train.epochs",
            "train.batch_size", "train.lr", "train.sigma_lr", "baseline.lr"}
NON_NEGATIVE = {"model.theta", "model.bias_noise", "loss.kl_weight", "loss.margin_lambda", "loss.rate_weight",
                "loss.rate_target", "loss.synops_weight", "loss.synops_budget", "train.weight_decay", "train.affine_lr", "train.threads", "train.workers", "train.eval_samples", "train.seed",
                "train.grad_clip"}
# Largest usable values: anything above is refused before data or weights are allocated
# (a typo such as lr = 1e308 or hidden = [100000000000] fails in one line, not in torch).
MAXIMUM = {
    "data.steps": 100_000, "data.limit": 2**31 - 1, "data.classes": 65_535, "data.max_count": 2**31 - 1,
    "model.hidden": 65_536, "model.widths": 4_096, "model.blocks": 64, "model.image_shape": 65_536,
    "method.k": 4_096, "train.epochs": 1_000_000, "train.batch_size": 1 << 20, "train.seed": 2**31 - 1,
    "train.threads": 4_096, "train.workers": 1_024, "train.eval_samples": 4_096,
    "train.lr": 1e3, "train.sigma_lr": 1e3, "train.affine_lr": 1e3, "baseline.lr": 1e3,
}
DEFAULT_MAXIMUM = 1e9  # any other number
MAX_IMAGE_ELEMENTS = 1 << 24  # C * H * W of model.image_shape
MAX_CONFIG_BYTES = 1 << 20   # a TOML config file

# Closed/open ranges beyond the sign: (test, what the message says the value must be)
BOUNDS = {
    "model.beta": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "model.syn_beta": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "model.readout_alpha": (lambda v: 0.0 < v < 1.0, "in (0, 1)"),
    "model.max_spikes": (lambda v: 1 <= v <= 31, "in 1..31"),
    "model.kernel_size": (lambda v: v % 2 == 1 and 1 <= v <= 15, "odd, in 1..15"),
    "model.downsample": (lambda v: 1 <= v <= 8, "in 1..8"),
    "data.max_count": (lambda v: v >= 1, ">= 1"),
    "data.classes": (lambda v: v >= 0, ">= 0"),
    "data.val_fraction": (lambda v: 0.0 <= v <= MAX_VALIDATION_FRACTION, f"in [0, {MAX_VALIDATION_FRACTION}]"),
    "train.lr_floor": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
}


@dataclass
class DataConfig:
    name: str = "digits"
    steps: int | None = None          # None: the data set's default
    encoding: str | None = None       # None: the data set's default
    root: str | None = None           # folder of local files (not digits)
    limit: int | None = None          # first N samples of each split (smoke tests)
    classes: list[int] | None = None  # keep these labels only, relabelled 0..n-1 in this order
    max_count: int | None = None      # digits-seq: clip input spike counts per step (Xylo: 15)
    val_fraction: float = VALIDATION_FRACTION  # share of the training data held out for model selection
    normalize: bool = False           # cifar10: per-channel mean/std normalisation of the input
    augment: bool = False             # cifar10: random crop (4-pixel zero padding) and horizontal flip


@dataclass
class ModelConfig:
    name: str = "mlp"
    neuron: str = "lif"
    hidden: list[int] = field(default_factory=lambda: [128])   # mlp / srnn
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])  # resnet stages
    blocks: list[int] = field(default_factory=lambda: [4, 3, 3])     # resnet blocks per stage
    image_shape: list[int] | None = None  # resnet: per-step [C, H, W] of flat samples
    tau_mem: float = 10.0
    beta: float | None = None         # membrane decay per step; None: exp(-1/tau_mem)
    syn_beta: float = 0.0             # synaptic current decay; 0: no current state
    theta: float = 1.0
    reset: str = "soft"
    max_spikes: int = 1               # spikes per neuron and step (Xylo: up to 31)
    bias: bool = True                 # hidden layers' bias (the readout keeps its own)
    init: str = "noise_aware"
    snr: float = 4.0                  # initial std(w)/sigma per layer
    data_init: bool = True            # scale the first layer by 1/rms(input)
    posterior: str = "layer"
    prior_scale: float = 1.0          # prior std = prior_scale / sqrt(fan_in)
    readout: str = "mean"             # "mean" over steps, "leaky" or "cuba" (see net_base.readout_weights)
    readout_tau: float = 5.0          # leaky readout time constant (steps)
    readout_alpha: float = 0.5        # cuba readout: synaptic decay of the output neurons
    affine: str = "none"              # per-step affine of hidden currents: "none", "step" (scale[t, c],
                                      # the authors'; not compilable), "channel_positive" (softplus
                                      # scale[c], constant over t); see models.AFFINES
    self_connections: bool = True     # srnn: false masks the recurrent weight's diagonal to zero
    bias_noise: float = 0.0           # initial std of each hidden layer's learnable bias noise; 0: off
    kernel_size: int = 3              # resnet: every conv k x k with "same" padding k // 2 (authors' conv_params)
    downsample: int = 2               # resnet: stride of the first block of every stage after the first
    shortcut: str = "avgpool_pad"     # resnet: downsampling shortcut = avg-pool + zero-padded channels;
    #                                 "none": no shortcuts (a plain conv net: conv -> neuron, twice per block)


@dataclass
class MethodConfig:
    name: str = "sbnn"
    estimator: str = "analytic"
    tau: float = 0.5
    k: int = 8
    noise: str = "gaussian"
    relaxation: str = "sigmoid"       # relaxed/iw kernel: sigmoid(v/tau) or Phi(v/tau)
    surrogate_width: float = 0.4      # sg: width of the Gaussian-pdf surrogate
    batchnorm: bool = False           # sg only
    sg_neuron: str = "snntorch"       # sg: "snntorch" (Leaky) or "target" (the SBNN's LIF step: compilable)


@dataclass
class LossConfig:
    kl_weight: float = 1.0            # ELBO: CE + kl_weight * KL / N_data
    margin_lambda: float = 0.0        # auxiliary margin penalty lambda * mean ((u - theta)/S)^2
    rate_weight: float = 0.0          # spike-rate regulariser weight
    rate_target: float = 0.0          # penalise mean layer rates above this
    synops_weight: float = 0.0        # synaptic-operation penalty weight (see losses.synops_penalty)
    synops_budget: float = 0.0        # synaptic operations per inference allowed before the penalty acts


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 5e-3
    sigma_lr: float = 0.05            # lr of the posterior std parameters (rho) and of the bias noise
    affine_lr: float = 0.0            # lr of the per-step / per-channel affine (model.affine); 0: lr
    weight_decay: float = 0.0
    schedule: str = "cosine"
    lr_floor: float = 0.0             # cosine ends at lr * lr_floor (authors: 0.1 for SHD, 0.02 for DVS)
    grad_clip: float = 0.0            # 0: off
    seed: int = 0
    device: str = "auto"
    threads: int = 0                  # CPU threads for torch; 0: torch's default
    workers: int = 0                  # DataLoader processes for file-backed data sets
    eval_samples: int = 8             # posterior samples for test_accuracy_sampled


@dataclass
class BaselineConfig:
    sg: bool = False                  # also train the SG baseline on the same net
    lr: float = 1e-3
    batchnorm: bool = False


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config)}


def type_ok(value, hint) -> bool:
    """Whether a TOML value fits a field's annotation (int counts as float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return value is None or any(type_ok(value, a) for a in args if a is not type(None))
    if origin is list:
        return isinstance(value, list) and all(type_ok(v, args[0]) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check_value(key: str, value, hint) -> object:
    if not type_ok(value, hint):
        raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
    if key in CHOICES and value is not None and value not in CHOICES[key]:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(CHOICES[key])}")
    numbers = value if isinstance(value, list) else [value]
    for v in numbers:
        if v is None or isinstance(v, (bool, str)):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key}: must be a finite number, got {v!r}")
        if key in POSITIVE and v <= 0 or key in NON_NEGATIVE and v < 0:
            raise ConfigError(f"{key}: must be {'> 0' if key in POSITIVE else '>= 0'}, got {v!r}")
        if key in BOUNDS and not BOUNDS[key][0](v):
            raise ConfigError(f"{key}: must be {BOUNDS[key][1]}, got {v!r}")
        top = MAXIMUM.get(key, DEFAULT_MAXIMUM)
        if abs(v) > top:
            raise ConfigError(f"{key}: {v!r} is too large (at most {top:g})")
    if key in ("model.hidden", "model.widths", "model.blocks") and (not value or min(value) < 1):
        raise ConfigError(f"{key}: needs positive integers, got {value!r}")
    floats = hint is float or float in typing.get_args(hint)
    return float(value) if floats and isinstance(value, int) else value


# Old key -> its new name, read from configs and checkpoints written before the rename.
RENAMED = {"loss.bias_lambda": "loss.margin_lambda"}


def _renamed(name: str, table: dict) -> dict:
    """`table` with old key names mapped to new ones; both names at once is an error."""
    table = dict(table)
    for old, new in RENAMED.items():
        section, key = old.split(".")
        if section == name and key in table:
            if new.split(".")[1] in table:
                raise ConfigError(f"{old}: old name of {new}; give only {new}")
            table[new.split(".")[1]] = table.pop(key)
    return table


def fill_section(name: str, table, factory, check_value) -> object:
    """The dataclass `factory()` filled from TOML table `table`; each value passes
    `check_value(key, value, type hint)`; an unknown key is one `ConfigError`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: expected a [{name}] table, got {table!r}")
    obj = factory()
    hints = typing.get_type_hints(type(obj))
    for key, value in table.items():
        if key not in hints:
            raise ConfigError(f"{name}.{key}: unknown key")
        setattr(obj, key, check_value(f"{name}.{key}", value, hints[key]))
    return obj


def _section(name: str, table) -> object:
    table = _renamed(name, table) if isinstance(table, dict) else table
    return fill_section(name, table, SECTIONS[name], _check_value)


def from_dict(raw: dict) -> Config:
    """A `Config` from nested dicts (TOML tables); `ConfigError` on a bad key or value."""
    sections = {}
    for name, table in raw.items():
        if name not in SECTIONS:
            raise ConfigError(f"{name}: unknown section; choose from {', '.join(SECTIONS)}")
        sections[name] = _section(name, table)
    cfg = Config(**sections)
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: Config) -> None:
    if cfg.model.name == "srnn" and cfg.model.neuron != "lif":
        raise ConfigError(f"model.neuron: srnn needs 'lif', got {cfg.model.neuron!r}")
    if cfg.model.name == "resnet" and len(cfg.model.widths) != len(cfg.model.blocks):
        raise ConfigError("model.blocks: needs one entry per model.widths entry")
    if cfg.model.image_shape is not None and len(cfg.model.image_shape) != 3:
        raise ConfigError(f"model.image_shape: expected [C, H, W], got {cfg.model.image_shape!r}")
    if cfg.model.image_shape is not None:
        if min(cfg.model.image_shape) < 1:
            raise ConfigError(f"model.image_shape: needs positive sizes, got {cfg.model.image_shape!r}")
        if math.prod(cfg.model.image_shape) > MAX_IMAGE_ELEMENTS:
            raise ConfigError(f"model.image_shape: {cfg.model.image_shape!r} has more than "
                              f"{MAX_IMAGE_ELEMENTS} elements")
    _check_lif_options(cfg.model)
    _check_data_options(cfg.data)
    if cfg.train.lr_floor > 0 and cfg.train.schedule != "cosine":
        raise ConfigError(f"train.lr_floor: applies to schedule = 'cosine', got {cfg.train.schedule!r}")
    leaky = cfg.method.sg_neuron == "snntorch"
    if leaky and (cfg.baseline.sg or cfg.method.name == "sg") and (cfg.model.syn_beta > 0 or cfg.model.max_spikes > 1):
        key = "model.syn_beta" if cfg.model.syn_beta > 0 else "model.max_spikes"
        raise ConfigError(f"{key}: the SG net (snnTorch Leaky) has no synaptic current or multi-spike output "
                          "(method.sg_neuron = 'target' has both)")


def _check_lif_options(m: ModelConfig) -> None:
    """A synaptic state and multi-spike output exist for LIF neurons only."""
    if m.neuron == "lif":
        return
    if m.syn_beta > 0:
        raise ConfigError(f"model.syn_beta: needs neuron = 'lif', got {m.neuron!r}")
    if m.max_spikes > 1:
        raise ConfigError(f"model.max_spikes: needs neuron = 'lif', got {m.neuron!r}")


def data_config(table: dict) -> DataConfig:
    """A [data] table checked as a config file's is (types, choices, bounds, options)."""
    data = _section("data", table)
    _check_data_options(data)
    return data


def _check_data_options(d: DataConfig) -> None:
    if d.max_count is not None and d.name != "digits-seq":
        raise ConfigError(f"data.max_count: only digits-seq has input counts to clip, got data.name = {d.name!r}")
    if d.classes is not None and (not d.classes or len(set(d.classes)) != len(d.classes)):
        raise ConfigError(f"data.classes: needs distinct labels, got {d.classes!r}")
    for key in ("normalize", "augment"):
        if getattr(d, key) and d.name != "cifar10":
            raise ConfigError(f"data.{key}: only cifar10 takes it, got data.name = {d.name!r}")


def read_toml(path: Path) -> dict:
    """A config file's TOML tables; a one-line `ConfigError` naming `path` when it is
    missing, not a regular file, too large, not UTF-8 or not TOML."""
    if path.exists() and not path.is_dir() and not path.is_file():
        raise ConfigError(f"{path}: not a regular file (a FIFO or device is not read as a config)")
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for a config file")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({type(exc).__name__})") from None


def load(path: str | Path) -> Config:
    """Read and check a TOML config; errors name the file and the key."""
    path = Path(path)
    raw = read_toml(path)
    try:
        cfg = from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _warn_renamed(path, raw)
    return cfg


def _warn_renamed(path: Path, raw: dict) -> None:
    import warnings

    for old, new in RENAMED.items():
        section, key = old.split(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            warnings.warn(f"{path}: {old} is now called {new}", FutureWarning, stacklevel=3)
