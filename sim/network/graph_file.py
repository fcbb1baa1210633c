"""Graph files: a trust graph read from GraphML or an edge list, checked before and after
parsing.

A file's size is bounded by the number of models it must hold before it is parsed, since
parsing takes many times the file's size in memory: a file too large for the fleet is refused
at once, with the reason, instead of exhausting the machine.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from sim.core.errors import ConfigError

__all__ = ["GRAPH_FILE_FLOOR", "GRAPH_FILE_PER_MODEL", "read_graph_file"]

KiB, MiB = 1024, 1024 * 1024
#: The largest graph file read, per model it must hold (GraphML with a trust attribute takes
#: about 100 bytes an edge, an edge list about 12): room for a mean degree in the hundreds.
GRAPH_FILE_PER_MODEL = 16 * KiB
#: The largest graph file read for any fleet, however small.
GRAPH_FILE_FLOOR = 4 * MiB


def read_graph_file(path: str | None, n: int) -> nx.Graph:
    """Read the graph of ``n`` models in the file ``path`` (GraphML, or an edge list ``u v
    [trust]``), its nodes relabelled ``0..n-1`` (the file's labels kept as ``label``).

    Raises:
        ConfigError: naming ``graph.path`` (missing, a folder, too large for ``n`` models,
            unreadable, malformed, a trust outside [0, 1]) or ``population.n_agents`` (not
            the file's node count).
    """
    file = Path(path or "")
    if file.is_dir():
        raise ConfigError(f"graph.path: is a folder, not a graph file, got {path!r}")
    if not file.is_file():
        raise ConfigError(f"graph.path: no such file, got {path!r}")
    _check_file_size(file, n)
    try:
        if file.suffix.lower() == ".graphml":
            graph = nx.read_graphml(file)
        else:
            graph = nx.read_edgelist(file, nodetype=str, data=[("trust", float)])
    except MemoryError:
        problem = "cannot read it as a graph (out of memory while parsing it)"
        raise ConfigError(f"graph.path: {problem}, got {path!r}") from None
    except OSError as exc:
        problem = f"cannot read the file ({exc.strerror})"
        raise ConfigError(f"graph.path: {problem}, got {path!r}") from None
    except Exception as exc:  # networkx raises many types for a malformed file
        problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
        problem = f"cannot read it as a graph ({problem})"
        raise ConfigError(f"graph.path: {problem}, got {path!r}") from None
    if graph.number_of_nodes() != n:
        raise ConfigError(
            f"population.n_agents: must equal the {graph.number_of_nodes()} nodes "
            f"of graph file {path!r}, got {n}"
        )
    for u, v, data in graph.edges(data=True):
        trust = data.get("trust")
        if trust is not None and not _is_trust(trust):
            raise ConfigError(
                f"graph.path: edge {u}->{v} of {path!r} has trust {trust!r}, not a number in [0, 1]"
            )
    # A multigraph's parallel edges would be one relationship counted twice.
    simple = nx.DiGraph(graph) if graph.is_directed() else nx.Graph(graph)
    return nx.convert_node_labels_to_integers(simple, label_attribute="label")


def _check_file_size(file: Path, n: int) -> None:
    """Refuse a file too large to hold a graph of ``n`` models, before parsing it: parsing
    takes tens of times the file's size in memory (GraphML about 30 times)."""
    limit = max(GRAPH_FILE_FLOOR, n * GRAPH_FILE_PER_MODEL)
    size = file.stat().st_size
    if size > limit:
        raise ConfigError(
            f"graph.path: {size / MiB:.1f} MiB is more than a graph of population.n_agents={n} "
            f"may take ({limit / MiB:.1f} MiB: {GRAPH_FILE_PER_MODEL // KiB} KiB a model, at "
            f"least {GRAPH_FILE_FLOOR // MiB} MiB), so it is not read; a dense graph fits as an "
            f"edge list (about 12 bytes an edge), got {str(file)!r}"
        )


def _is_trust(value: object) -> bool:
    try:
        return not isinstance(value, bool) and 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        return False
