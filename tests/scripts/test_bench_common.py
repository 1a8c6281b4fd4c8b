"""What the alternating benchmarks judge and carry between their processes
(scripts/bench_common.py): the median and spread of the pairs' ratios, the runs gathered
in their pairs' order, the records a baseline makes again, and a false target's exit."""

import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))

import bench_common as bench


def test_one_slow_pair_on_a_loaded_machine_does_not_move_the_median():
    figures = bench.ratio_figures([10, 10, 20], [15, 30, 30])
    assert figures["ratios"] == [1.5, 3.0, 1.5]
    assert figures["ratio_median"] == 1.5
    assert (figures["ratio_min"], figures["ratio_max"]) == (1.5, 3.0)


def test_runs_are_gathered_in_their_pairs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CSP_BENCH_DIR", str(tmp_path))
    for number in (1, 2, 10):
        for kind, seconds in (("measured", number * 3), ("baseline", number)):
            (tmp_path / f"{kind}-{number}.json").write_text(json.dumps({"seconds": seconds}))
    runs = bench.gathered_runs()
    assert [r["seconds"] for r in runs["baseline"]] == [1, 2, 10]
    assert [r["seconds"] for r in runs["measured"]] == [3, 6, 30]


def test_a_missing_run_stops_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv("CSP_BENCH_DIR", str(tmp_path))
    (tmp_path / "measured-1.json").write_text(json.dumps({"seconds": 3}))
    with pytest.raises(SystemExit, match="1 measured, 0 baseline"):
        bench.gathered_runs()


def test_a_baseline_points_at_the_records_it_made_itself():
    sites = [{"_id": 40, "name": "Paris"}, {"_id": 41, "name": "Lyon"}]

    class Made:  # what Model.create returns, as far as created_ids reads it
        ids = [7, 8]

    made = bench.created_ids(sites, Made())
    contacts = [
        {"_id": 90, "name": "Ann", "parent_id": 41},
        {"_id": 91, "name": "Bob", "parent_id": 3},  # a customer from the set-up
        {"_id": 92, "name": "Eve", "parent_id": False},
    ]
    assert bench.remapped(contacts, parent_id=made) == [
        {"name": "Ann", "parent_id": 8},
        {"name": "Bob", "parent_id": 3},
        {"name": "Eve", "parent_id": False},
    ]


def test_a_false_target_ends_with_exit_status_1(tmp_path, capsys):
    out = tmp_path / "bench-results" / "users.json"
    result = {"ratio": 1.9, "_median": 1.93, "targets": {"within 1.6x": False, "rows": True}}
    with pytest.raises(SystemExit) as stop:
        bench.write_result(result, str(out))
    assert stop.value.code == 1
    assert "FAILED targets: within 1.6x" in capsys.readouterr().out
    assert json.loads(out.read_text()) == {
        "ratio": 1.9,
        "targets": {"within 1.6x": False, "rows": True},
    }


def test_the_alternating_reports_share_their_ratio_and_method(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CSP_BENCH_DIR", str(tmp_path))
    (tmp_path / "setup.json").write_text(json.dumps({"tenants": 2}))
    for n, (base, measured) in enumerate([(10.0, 15.0), (10.0, 30.0), (20.0, 30.0)], 1):
        (tmp_path / f"baseline-{n}.json").write_text(json.dumps({"seconds": base}))
        (tmp_path / f"measured-{n}.json").write_text(json.dumps({"seconds": measured}))
    facts, runs, common = bench.alternated_report("import / create", "the import", "creates")
    assert facts == {"tenants": 2}
    assert [r["seconds"] for r in runs["measured"]] == [15.0, 30.0, 30.0]
    assert common["full_vs_baseline"] == 1.5  # pairs 1.5, 3.0, 1.5
    assert (common["ratio_min"], common["ratio_max"]) == (1.5, 3.0)
    assert common["full_import_seconds"] == 30.0
    assert common["baseline_create_seconds"] == 10.0
    assert "measured (the import) and baseline (creates) alternate" in common["method"]
    assert "import / create: median 1.5x" in capsys.readouterr().out
