"""Run folders on disk: atomic files, the ``done`` marker and its checks, the manifest, the
locks on run and sweep folders, the folders and files the tool owns (``.peersim`` markers),
and reading a sweep's run folders back into tables.

May import :mod:`sim.core` only; used by :mod:`sim.app`.
"""
