"""Run folders on disk: atomic files, the ``done`` marker and its checks, the manifest, and
collecting a sweep's run folders into tables.

May import :mod:`sim.core` only; used by :mod:`sim.app`.
"""
