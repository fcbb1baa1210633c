"""Figures of a run. matplotlib is imported here only, and only when a figure is drawn.

May import :mod:`sim.core` only; used by :mod:`sim.app`.
"""
