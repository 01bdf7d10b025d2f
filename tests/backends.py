"""One rule for tests that need an external executor (Lava, xylosim).

Elsewhere such a test skips, saying why. Where `SNNC_REQUIRE_BACKENDS=1`
(set by .ci/run) or `CI` is set, a missing executor fails the test instead:
on these machines the bit-exact checks must run, never be skipped.
"""
import os

import pytest

from snnc.errors import BackendUnavailable

REQUIRED = os.environ.get("SNNC_REQUIRE_BACKENDS") == "1" or bool(os.environ.get("CI"))


def require(name: str, probe):
    """Return probe(); if the backend is absent, fail (REQUIRED) or skip."""
    try:
        return probe()
    except (BackendUnavailable, ImportError) as exc:
        if REQUIRED:
            pytest.fail(f"{name} is required here (SNNC_REQUIRE_BACKENDS=1) but unavailable: {exc}",
                        pytrace=False)
        pytest.skip(f"{name} unavailable: {exc}")


def fresh_seed() -> int:
    """A new random seed per run, or $SNNC_TEST_SEED to replay one (tests print it on failure)."""
    import os

    env = os.environ.get("SNNC_TEST_SEED")
    seed = int(env) if env else int.from_bytes(os.urandom(4), "little")
    print(f"SNNC_TEST_SEED={seed}")   # pytest shows a failing test's captured output: the seed to replay
    return seed
