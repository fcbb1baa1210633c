"""The application: the Hydra schema and composition, checks made before a run starts, the
command lines (``peersim``, ``peersim-collect``), the runner and sweeps.

The top layer: may import every other subpackage; nothing imports it but :mod:`sim` itself.
"""
