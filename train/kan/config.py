"""KAN training configuration: a TOML file whose `[kan]` table marks it as a KAN run.

    [kan]    widths, intervals (coarsest level), order, init, init_scale, basis, free_knots
    [data]   name ("kan2d": the published problem), n_train, n_val, n_test, seed
    [train]  schedule (epochs per level), optimizer, lr, max_iter, history_size,
             batch_size, seed, threads

Defaults are the published problem's (SEEDS.md part 2: net [2, 5, 1], L-BFGS
at lr 1, nested iteration {32, 16, 8, 4} from 8 intervals).  An unknown
section or key, or a value of the wrong type or range, is one `ConfigError`
naming the file and the key (`kan.intervls: unknown key`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from snnc.errors import ConfigError

from .model import BASES, INIT_SCALE, INITS
from .multilevel import OPTIMIZERS
from .problem import DATA_SEED, MAX_POINTS, N_TEST, N_TRAIN, N_VAL

PROBLEMS = ("kan2d",)
MAX_WIDTH, MAX_INTERVALS, MAX_ORDER, MAX_EPOCHS = 4_096, 65_536, 8, 100_000   # typo guards (estimate)


@dataclass
class KanSection:
    widths: list[int] = field(default_factory=lambda: [2, 5, 1])
    intervals: int = 8                # on the coarsest level; each level halves them
    order: int = 2                    # 2 = linear spline, the deployable case
    init: str = "random"
    init_scale: float = INIT_SCALE
    basis: str = "spline"
    free_knots: bool = False


@dataclass
class DataSection:
    name: str = "kan2d"
    n_train: int = N_TRAIN
    n_val: int = N_VAL
    n_test: int = N_TEST
    seed: int = DATA_SEED


@dataclass
class TrainSection:
    schedule: list[int] = field(default_factory=lambda: [32, 16, 8, 4])
    optimizer: str = "lbfgs"
    lr: float = 1.0
    max_iter: int = 20
    history_size: int = 100
    batch_size: int = 1024
    seed: int = 0
    threads: int = 1


@dataclass
class KanConfig:
    kan: KanSection = field(default_factory=KanSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(KanConfig)}
CHOICES = {"kan.init": INITS, "kan.basis": BASES, "data.name": PROBLEMS, "train.optimizer": OPTIMIZERS}
# (lowest, highest) of each number; lists are checked element by element.
RANGES = {
    "kan.widths": (1, MAX_WIDTH), "kan.intervals": (1, MAX_INTERVALS), "kan.order": (2, MAX_ORDER),
    "kan.init_scale": (0.0, 1e3), "data.n_train": (2, MAX_POINTS), "data.n_val": (1, MAX_POINTS),
    "data.n_test": (1, MAX_POINTS), "data.seed": (0, 2**63 - 1), "train.schedule": (0, MAX_EPOCHS),
    "train.lr": (1e-12, 1e3), "train.max_iter": (1, 10_000), "train.history_size": (1, 10_000),
    "train.batch_size": (1, 1 << 24), "train.seed": (0, 2**63 - 1), "train.threads": (1, 4_096),
}


def _check_value(key: str, value, hint):
    from snnc.train.config import type_ok

    if not type_ok(value, hint):
        raise ConfigError(f"{key}: expected {getattr(hint, '__name__', str(hint))}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(CHOICES[key])}")
    lo, hi = RANGES.get(key, (None, None))
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key}: must be a finite number, got {v!r}")
        if lo is not None and not lo <= v <= hi:
            raise ConfigError(f"{key}: must lie in [{lo:g}, {hi:g}], got {v!r}")
    return float(value) if hint is float else value


def _section(name: str, table):
    from snnc.train.config import fill_section

    return fill_section(name, table, SECTIONS[name], _check_value)


def from_dict(raw: dict) -> KanConfig:
    """A `KanConfig` from nested dicts (TOML tables or a checkpoint's stored config)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected tables, got {type(raw).__name__}")
    sections = {}
    for name, table in raw.items():
        if name not in SECTIONS:
            raise ConfigError(f"{name}: unknown section of a KAN config; choose from {', '.join(SECTIONS)}")
        sections[name] = _section(name, table)
    cfg = KanConfig(**sections)
    if len(cfg.kan.widths) < 2:
        raise ConfigError(f"kan.widths: need at least [inputs, outputs], got {cfg.kan.widths!r}")
    if cfg.kan.widths[0] != 2 or cfg.kan.widths[-1] != 1:
        raise ConfigError(f"kan.widths: data '{cfg.data.name}' has 2 inputs and 1 output, "
                          f"got widths {cfg.kan.widths!r}")
    if not cfg.train.schedule or sum(cfg.train.schedule) < 1:
        raise ConfigError(f"train.schedule: needs epochs per level, at least one in all, got {cfg.train.schedule!r}")
    return cfg


def load(path) -> KanConfig:
    """Read and check a KAN TOML config; errors name the file and the key."""
    path = Path(path)
    try:
        from snnc.train.config import read_toml

        return from_dict(read_toml(path))
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(f"{path}:") else f"{path}: {msg}") from None
