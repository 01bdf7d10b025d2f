"""`@kernel`: marks a target's arithmetic as the one shared definition.

The function is compiled with numba so that the event-driven core can call
it inside its loops; plain Python callers (the dense reference, tests) get
the same compiled code, so both simulators run literally the same arithmetic.
"""
import numba

kernel = numba.njit(cache=True, nogil=True)
