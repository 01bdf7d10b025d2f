"""snnc: neuromorphic deployment compiler and bit-accurate simulator."""
__version__ = "0.1.0"

from snnc import compiler, runtime, targets  # noqa: E402,F401  (public API: snnc.runtime.simulate)
