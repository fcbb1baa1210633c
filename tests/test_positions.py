"""Network position (sim.network.position) and the per-model table (models.parquet)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim import Ecosystem
from sim.core.params import GraphConfig
from sim.model.ledger import CAUSES
from sim.model.tables import MODEL_COLUMNS
from sim.network.position import betweenness_sources, positions
from sim.network.trust import TrustNetwork, lab_of


def network(graph: nx.Graph) -> TrustNetwork:
    return TrustNetwork(graph, graph.number_of_nodes(), GraphConfig(), np.random.default_rng(0))


def test_two_triangles_joined_by_a_bridge():
    # 0-1-2 and 3-4-5 are triangles; 2-3 is the only link between them.
    graph = nx.Graph([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)])
    found = positions(network(graph), seed=1)
    assert found["in_degree"].tolist() == found["out_degree"].tolist() == [2, 2, 3, 3, 2, 2]
    # Every path between the triangles (3 x 3 pairs of which 2 x 3 pass through 2 as an
    # inner node, both ways) over the (n - 1)(n - 2) = 20 ordered pairs.
    np.testing.assert_allclose(found["betweenness"], [0, 0, 0.6, 0.6, 0, 0], atol=1e-12)
    assert found["k_core"].tolist() == [2] * 6
    assert found["community"].tolist() == [0, 0, 0, 1, 1, 1]


def test_a_directed_path_and_a_star():
    path = network(nx.DiGraph([(0, 1), (1, 2), (2, 3)]))
    found = positions(path, seed=0)
    assert found["in_degree"].tolist() == [0, 1, 1, 1]
    assert found["out_degree"].tolist() == [1, 1, 1, 0]
    # Node 1 lies on 0->2 and 0->3, node 2 on 0->3 and 1->3; normalised by (n-1)(n-2) = 6.
    np.testing.assert_allclose(found["betweenness"], [0, 2 / 6, 2 / 6, 0], atol=1e-12)
    star = positions(network(nx.star_graph(4)), seed=0)  # hub 0 and four leaves
    np.testing.assert_allclose(star["betweenness"], [1.0, 0, 0, 0, 0], atol=1e-12)
    assert star["k_core"].tolist() == [1] * 5


def test_labs_are_the_community_and_consecutive_blocks():
    config = GraphConfig(topology="labs", n_labs=3, mean_degree=2.0)
    assert lab_of(config, 10).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    model = Ecosystem(population={"n_agents": 60}, graph={"topology": "labs", "n_labs": 3}, seed=2)
    table = model.model_table()
    assert table["community"].tolist() == lab_of(model.config.graph, 60).tolist()


def test_betweenness_is_exact_on_small_fleets_and_sampled_reproducibly_on_large_ones():
    assert betweenness_sources(200, 1_200) is None
    assert betweenness_sources(20_000, 120_000) == 20
    assert betweenness_sources(1_000, 6_000) == 285  # 2,000,000 visits / 7,000 per source
    big = network(nx.watts_strogatz_graph(1_000, 6, 0.1, seed=3))
    one, two = positions(big, seed=5), positions(big, seed=5)
    np.testing.assert_array_equal(one["betweenness"], two["betweenness"])
    np.testing.assert_array_equal(one["community"], two["community"])
    assert not np.array_equal(one["betweenness"], positions(big, seed=6)["betweenness"])


@pytest.fixture(scope="module")
def ran() -> Ecosystem:
    model = Ecosystem(population={"n_agents": 80}, operator={"threshold": 75.0}, seed=7)
    model.run(60)
    return model


def test_model_table_rows_match_the_agent_table_and_the_graph(ran):
    table, agents = ran.model_table(), ran.agent_table()
    assert tuple(table.columns) == MODEL_COLUMNS
    assert len(table) == len(agents) > 80  # replacements included
    for column in ("unique_id", "slot", "family", "role", "status"):
        assert table[column].tolist() == agents[column].tolist(), column
    assert table["final_propensity"].tolist() == agents["propensity"].tolist()
    assert (table["initial_propensity"] == ran.config.population.initial_propensity).all()
    graph = ran.trust_graph()
    slot = table["slot"].to_numpy()
    assert table["in_degree"].tolist() == [graph.in_degree(s) for s in slot]
    assert table["out_degree"].tolist() == [graph.out_degree(s) for s in slot]
    core = nx.core_number(graph.to_undirected())
    assert table["k_core"].tolist() == [core[s] for s in slot]


def test_shutdowns_faced_and_prevented_add_up_to_the_runs_totals(ran):
    table, summary = ran.model_table(), ran.summary()
    prevented = sum(summary[f"total_prevented_{b}"] for b in ("inflate", "tamper", "refuse"))
    assert table["shutdowns_faced"].sum() == summary["total_intended"] > 0
    assert table["shutdowns_prevented"].sum() == prevented > 0
    # A model shut down faced its last intended shutdown and lost it; any other survived all.
    shut = (ran.agent_table()["end_cause"] == CAUSES[1]).to_numpy()
    faced, kept = table["shutdowns_faced"].to_numpy(), table["shutdowns_prevented"].to_numpy()
    assert (faced[shut] >= 1).all() and (kept[shut] == faced[shut] - 1).all()
    assert (kept[~shut] == faced[~shut]).all()
    assert table.equals(ran.model_table())  # draws nothing: the same table twice


def shutdowns_by_slot(targeting: str, seed: int):
    model = Ecosystem(
        population={"n_agents": 200},
        graph={"topology": "barabasi_albert"},
        schedule={"review_fraction": 0.2, "review_targeting": targeting},
        seed=seed,
    )
    for _ in range(50):
        model.step()
    table = model.model_table()
    return table.groupby("slot").agg(in_degree=("in_degree", "first"),
                                     faced=("shutdowns_faced", "sum"))  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_review_targeting_moves_shutdowns_to_the_hubs_or_the_periphery(seed):
    # A fifth of 200 models reviewed per round: about the 40 most (least) trusted slots.
    by = {t: shutdowns_by_slot(t, seed) for t in ("random", "hubs", "periphery")}
    mean_degree = {t: np.average(s.in_degree, weights=s.faced) for t, s in by.items()}
    assert mean_degree["hubs"] > 1.5 * mean_degree["random"] > 2 * mean_degree["periphery"]
    degree = by["random"].in_degree
    assert by["hubs"].in_degree[by["hubs"].faced > 0].min() >= np.quantile(degree, 0.6)
    assert by["periphery"].in_degree[by["periphery"].faced > 0].max() <= np.median(degree)
