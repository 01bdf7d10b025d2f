"""Hostile numbers in every training-config field, odd config files and run folders:
one-line ConfigError / exit status 2 before anything is allocated or written."""
from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from snnc.errors import ConfigError
from snnc.train import config as config_mod
from tests.fuzz.helpers import assert_one_line_refusal, run_cli

NON_FINITE = [math.nan, math.inf, -math.inf]
HUGE = [1e308, -1e308, 2**63 - 1, -(2**63), 1e11, 10**11]
ODD = [True, "x", None, [], [0], [1e11], [math.nan], {}, -1, 0, 0.5, 6.7]


def _fields():
    for section, factory in config_mod.SECTIONS.items():
        hints = typing.get_type_hints(type(factory()))
        for f in dataclasses.fields(factory()):
            yield section, f.name, hints[f.name]


def _is_numeric(hint) -> bool:
    args = typing.get_args(hint)
    inner = [a for a in args if a is not type(None)]
    if typing.get_origin(hint) is list:
        return inner[0] in (int, float)
    return hint in (int, float) or any(a in (int, float) for a in inner) or \
        any(typing.get_origin(a) is list and typing.get_args(a)[0] in (int, float) for a in inner)


FIELDS = list(_fields())


@pytest.mark.parametrize("section,key,hint", FIELDS, ids=[f"{s}.{k}" for s, k, _ in FIELDS])
def test_hostile_value_in_every_field(section, key, hint):
    listy = typing.get_origin(hint) is list or any(typing.get_origin(a) is list for a in typing.get_args(hint))
    for value in NON_FINITE + HUGE + ODD:
        candidates = [value] + ([[value]] if listy and not isinstance(value, list) else [])
        for cand in candidates:
            try:
                cfg = config_mod.from_dict({section: {key: cand}})
            except ConfigError as exc:
                assert "\n" not in str(exc) and "." in str(exc).split(":")[0], str(exc)  # names a key
                continue
            got = getattr(getattr(cfg, section), key)
            flat = got if isinstance(got, list) else [got]
            for x in flat:  # whatever was accepted is usable: finite and not huge
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    assert math.isfinite(x) and abs(x) <= 2**31, (section, key, cand)


@pytest.mark.parametrize("section,key,hint", [f for f in FIELDS if _is_numeric(f[2])],
                         ids=[f"{s}.{k}" for s, k, h in FIELDS if _is_numeric(h)])
def test_non_finite_and_huge_refused(section, key, hint):
    listy = typing.get_origin(hint) is list or any(typing.get_origin(a) is list for a in typing.get_args(hint))
    floaty = float in typing.get_args(hint) or hint is float
    values = (NON_FINITE if floaty else []) + [1e308 if floaty else 2**63 - 1]
    for value in values:
        with pytest.raises(ConfigError):
            config_mod.from_dict({section: {key: [value] if listy else value}})


@pytest.mark.parametrize("text", [
    "[train]\nlr = nan\n", "[train]\nlr = inf\n", "[loss]\nkl_weight = -inf\n", "[model]\ntheta = nan\n",
    "[loss]\nrate_target = nan\n", "[train]\nlr = 1e308\n", "[train]\nseed = 9223372036854775807\n",
    "[model]\nhidden = [1e11]\n", "[model]\nhidden = [100000000000]\n", "[model]\nimage_shape = [1, 0, 8]\n",
    "[model]\nimage_shape = [100000, 100000, 100000]\n", "[data]\nsteps = 1e9\n",
    "[train]\nepochs = 9223372036854775807\n", "[method]\nk = 100000000\n",
    "a = [" * 5000 + "]" * 5000 + "\n",
])
def test_cli_refuses_before_allocating(tmp_path, capsys, text):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "--config", cfg, "--out", out, "--quiet"], capsys)
    assert_one_line_refusal(code, err)
    assert not out.exists()


def test_config_file_oddities(tmp_path, capsys):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("[data]\nname = 'caf\xe9'\n".encode("latin1"))
    for path in (bad, tmp_path, tmp_path / "missing.toml"):
        code, _, err = run_cli(["train", "--config", path, "--out", tmp_path / "run", "--quiet"], capsys)
        assert_one_line_refusal(code, err)
    code, _, err = run_cli(["train", "--config", bad, "--out", tmp_path / "run"], capsys)
    assert "UTF-8" in err


def test_out_is_a_file_or_under_one(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nepochs = 1\n")
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for out in (afile, afile / "sub"):
        code, _, err = run_cli(["train", "--config", cfg, "--out", out, "--quiet"], capsys)
        assert_one_line_refusal(code, err, "file")
    assert afile.read_text() == "keep"
