"""Runtime: event-driven simulator, dense reference, energy, external executors."""
from snnc.runtime.simulate import SimResult, simulate

__all__ = ["simulate", "SimResult"]
