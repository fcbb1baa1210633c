"""Names of output folders: a unique stamp per command, and a sweep run's name by its overrides.

Both are OmegaConf resolvers that ``conf/config.yaml`` uses (:func:`register_resolvers`):

- ``${unique_stamp:}`` (:func:`unique_stamp`): a single run's folder
  (``outputs/runs/<stamp>``), a sweep's folder (``outputs/multirun/<stamp>``), and the id of a
  sweep command, by which a sweep tells the runs it computed from those it found done.
- ``${sweep_folder:${hydra.job.override_dirname}}`` (:func:`folder_name`): a run's folder in
  a sweep, so the same run always lands in the same folder.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime

from omegaconf import OmegaConf

from sim.core.secrets import redact

__all__ = ["MAX_NAME", "SUBDIR", "folder_name", "register_resolvers", "unique_stamp"]

#: Longer folder names are cut and end with a hash of the whole name (file systems allow 255).
MAX_NAME = 200
#: The default ``hydra.sweep.subdir``.
SUBDIR = "${sweep_folder:${hydra.job.override_dirname}}"


def unique_stamp() -> str:
    """A new name at every call, e.g. ``2026-11-22_06-15-03.482113_4242-9f3c1a``: the local
    date and time to the microsecond, this process's id and 6 random hex digits.

    Stamps sort by time. Two processes differ by their id (or, on two machines sharing a
    file system, by the random digits); two calls in one process by the clock or the random
    digits. The digits come from :mod:`secrets`, not from any simulation random state.
    """
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S.%f}_{os.getpid()}-{secrets.token_hex(3)}"


def folder_name(override_dirname: str) -> str:
    """A run's folder name from its ``override_dirname`` (the resolver ``sweep_folder``).

    Secrets are redacted (:func:`~sim.core.secrets.redact`; a URL's credential is already
    ``[REDACTED]`` in the overrides), ``%`` and ``/`` are escaped (``%25``, ``%2F``) so a
    value with a path stays one folder, no overrides at all give ``defaults``, and a name
    longer than :data:`MAX_NAME` bytes is cut and ends with the first 16 hex digits of its
    SHA-256.
    """
    name = redact(str(override_dirname)).replace("%", "%25").replace("/", "%2F") or "defaults"
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name.encode()) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = name.encode()[: MAX_NAME - 17].decode(errors="ignore") + "-" + digest
    return name


def register_resolvers() -> None:
    """Register ``unique_stamp`` and ``sweep_folder`` with OmegaConf (idempotent)."""
    if not OmegaConf.has_resolver("unique_stamp"):
        # use_cache: every use of the stamp in one composed config is one stamp, and Hydra
        # copies the cache into each job's config of a sweep (as for its own ${now:}), so
        # every job sees the stamp of the command that launched it.
        OmegaConf.register_new_resolver("unique_stamp", unique_stamp, use_cache=True)
    if not OmegaConf.has_resolver("sweep_folder"):
        OmegaConf.register_new_resolver("sweep_folder", folder_name)
