"""The trust graph: topologies, trust draws and updates, relationship classes, and the
textbook spread processes (SIR/SIS cascade, Watts threshold) that run on it.

Plain numpy and networkx, no Mesa. May import :mod:`sim.core` only.
"""
