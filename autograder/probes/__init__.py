"""Shared probes, one module per domain: the small behavioural questions checks are built from.

Each probe either returns what it observed or raises :class:`~autograder.core.Fail` with a French
message (expected / observed / what to do). Waiting is always on a condition with a deadline
(:mod:`autograder.probes.waits`), never a fixed sleep.
"""
