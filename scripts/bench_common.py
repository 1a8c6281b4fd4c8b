"""What the benchmarks (scripts/bench_<name>.py) share: the sandbox's control API, one
timed scheduled run with its figures, the customers' set-up, the alternation's phases and
files, records exported and created again for a baseline, and the result's output.

Imported by those scripts inside `odoo shell`: scripts/bench_<name>.sh (run_benchmark or
run_alternating_benchmark in scripts/lib.sh) puts scripts/ on PYTHONPATH. The shell's
`env` is passed in explicitly (the scripts switch it to the benchmark's user).

The alternating benchmarks (users, assets, licences) run their script once per phase,
each in its own `odoo shell` process (CSP_BENCH_PHASE):

* "setup" on the set-up database (committed; saves what the runs need with save_json);
* "measured" and "baseline", alternately (measured, baseline, measured, baseline...:
  CSP_BENCH_PAIRS pairs, default 3, at least 2), each on a fresh copy of the set-up
  database (CREATE DATABASE ... TEMPLATE, dropped after the run): the same database state
  for every run, its own peak RSS, cold caches as a real run; each writes its figures
  with write_run. The first measured run exports the records it made (save_json) for the
  baselines; the last one (CSP_BENCH_LAST=1) then runs the delta runs, which change the
  sandbox;
* "report" gathers the runs (gathered_runs), judges the median ratio and writes the result.
"""

# pylint: disable=print-used
import cProfile
import datetime as dt
import glob
import json
import logging
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import requests

from odoo import sql_db
from odoo.tools import config

from sandbox_connection import load_state


def sandbox():
    """The sandbox's state (CSP_SANDBOX_STATE), the result's path (CSP_BENCH_OUT) and
    a function calling the sandbox's control API."""
    state = load_state(os.environ["CSP_SANDBOX_STATE"])
    return state, os.environ["CSP_BENCH_OUT"], make_control(state)


def make_control(state):
    """A function calling the sandbox's control API (set-up and changes, not measured)."""
    url, ca = state["urls"]["control"], state["ca_path"]

    def control(method, path, payload=None):
        response = requests.request(method, f"{url}/{path}", json=payload, verify=ca, timeout=120)
        response.raise_for_status()
        return response.json() if response.content else None

    return control


def peak_rss_mb():
    """This process's peak RSS in MB: Linux's VmHWM (the peak of its own memory since it
    started; getrusage's ru_maxrss also keeps the peak of the process that started it,
    e.g. a benchmark's parent for in_fresh_shell), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rows_written(env, since, tables):
    """Rows of `tables` created or changed since `since`, by table (read in the run's
    own transaction, after its commits)."""
    written = {}
    for table in tables:
        env.cr.execute(f"SELECT count(*) FROM {table} WHERE write_date >= %s", [since])
        written[table] = env.cr.fetchone()[0]
    return written


def pairs():
    """How many baseline/measured pairs a benchmark runs (CSP_BENCH_PAIRS, default 3, at
    least 2)."""
    return max(2, int(os.environ.get("CSP_BENCH_PAIRS", "3")))


# the alternating benchmarks' phases (scripts/lib.sh run_alternating_benchmark)
PHASE = os.environ.get("CSP_BENCH_PHASE", "")
RUN = int(os.environ.get("CSP_BENCH_RUN", "0"))  # the pair's number, from 1
LAST = os.environ.get("CSP_BENCH_LAST") == "1"  # the last measured run: the delta runs too


def _json_path(name):
    return os.path.join(os.environ["CSP_BENCH_DIR"], f"{name}.json")


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{value!r} is not JSON serializable")


def save_json(name, data):
    """Keeps `data` for the later phases (set-up facts, exported records, run figures)."""
    with open(_json_path(name), "w") as handle:
        json.dump(data, handle, default=_jsonable)


def load_json(name):
    with open(_json_path(name)) as handle:
        return json.load(handle)


def has_json(name):
    return os.path.exists(_json_path(name))


def write_run(figures):
    """This run's figures (phase "measured" or "baseline", pair RUN), for the report."""
    save_json(f"{PHASE}-{RUN}", figures)
    shown = {k: v for k, v in figures.items() if not isinstance(v, dict | list)}  # printed
    print(f"  run {RUN}, {PHASE}: {json.dumps(shown)}", flush=True)


def median(numbers):
    return round(statistics.median(numbers), 2)


def gathered_runs():
    """{"measured": [figures...], "baseline": [figures...]}, each in the pairs' order."""
    found = {}
    for kind in ("measured", "baseline"):
        paths = glob.glob(os.path.join(os.environ["CSP_BENCH_DIR"], f"{kind}-*.json"))
        numbers = sorted(int(os.path.basename(p)[len(kind) + 1 : -5]) for p in paths)
        found[kind] = [load_json(f"{kind}-{n}") for n in numbers]
    if not found["measured"] or len(found["measured"]) != len(found["baseline"]):
        raise SystemExit(
            f"The benchmark's runs are incomplete: {len(found['measured'])} measured, "
            f"{len(found['baseline'])} baseline (in {os.environ['CSP_BENCH_DIR']})."
        )
    return found


_NOT_EXPORTED = {"id", "create_uid", "create_date", "write_uid", "write_date"}


def export_rows(records, names=None):
    """`records`' values as a baseline creates them again: `names`, else every stored
    field that is not computed, related or x2many (many2one as ids)."""
    if names is None:
        names = [
            name for name, field in records._fields.items()
            if field.store and not field.compute and name not in _NOT_EXPORTED
            and field.type not in ("one2many", "many2many", "binary")
        ]  # fmt: skip
    rows = records.with_context(active_test=False).read(names, load=None)
    return [{k: v for k, v in row.items() if k != "id"} | {"_id": row["id"]} for row in rows]


def remapped(rows, **made):
    """`rows` ready to create: their "_id" dropped, each many2one named in `made` mapped
    from the exported record's id to the one the baseline made ({old id: new id})."""
    result = []
    for row in rows:
        values = {k: v for k, v in row.items() if k != "_id"}
        for name, ids in made.items():
            if values.get(name):
                values[name] = ids.get(values[name], values[name])
        result.append(values)
    return result


def created_ids(rows, records):
    """{exported id: id made by the baseline}, `records` created from `rows` in order."""
    return {row["_id"]: record_id for row, record_id in zip(rows, records.ids, strict=True)}


def ratio_figures(baseline_seconds, measured_seconds):
    """The measured run against its baseline, pair by pair (each pair run back to back
    from the same database state, so that a loaded machine weighs on both alike): the
    median ratio and its spread (min, max), with the times they come from."""
    ratios = [m / b for b, m in zip(baseline_seconds, measured_seconds, strict=True)]
    return {
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "baseline_seconds": [round(s, 2) for s in baseline_seconds],
        "measured_seconds": [round(s, 2) for s in measured_seconds],
        "_median": statistics.median(ratios),  # unrounded, for the targets
    }


def alternated_report(label, measured, baseline):
    """What the alternating benchmarks (users, devices, licences) report alike: the set-up's
    facts, the gathered runs, and the result's common part (method, median seconds of each
    side, the pairs' ratio and spread), the ratio printed under LABEL. MEASURED and BASELINE
    say in words what each side of a pair runs."""
    facts = load_json("setup")
    runs = gathered_runs()
    ratio = ratio_figures(
        [r["seconds"] for r in runs["baseline"]], [r["seconds"] for r in runs["measured"]]
    )
    print_ratio(label, ratio)
    common = {
        "method": (
            "each run in its own odoo shell process on a fresh copy of the committed set-up "
            f"database; measured ({measured}) and baseline ({baseline}) alternate; median "
            "and spread of the pairs' ratios"
        ),
        "full_import_seconds": median([r["seconds"] for r in runs["measured"]]),
        "baseline_create_seconds": median([r["seconds"] for r in runs["baseline"]]),
        "full_vs_baseline": ratio["ratio_median"],
        "ratio_min": ratio["ratio_min"],
        "ratio_max": ratio["ratio_max"],
        "ratio_pairs": ratio,
    }
    return facts, runs, common


def print_ratio(name, figures):
    print(
        f"  {name}: median {figures['ratio_median']}x "
        f"(spread {figures['ratio_min']}-{figures['ratio_max']}x over "
        f"{len(figures['ratios'])} pairs)",
        flush=True,
    )


def request_count(env):
    """Request logs are written by their own transaction: count them from another one."""
    with env.registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM csp_request_log")
        return cr.fetchone()[0]


def analyze(env, tables):
    """Fresh planner statistics, as autovacuum keeps them on a normal server (some
    servers here run with autovacuum off): outside the timed part of each run."""
    env.cr.commit()
    for table in tables:
        env.cr.execute(f"ANALYZE {table}")
    env.cr.commit()


def start_profile(label, profile_lines):
    """A running profiler when CSP_BENCH_PROFILE names words of `label`, else None."""
    words = os.environ.get("CSP_BENCH_PROFILE")
    if not (profile_lines and words and words in label):
        return None
    if os.environ.get("CSP_BENCH_SQLLOG"):
        logging.getLogger("odoo.sql_db").setLevel(logging.DEBUG)
    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def report_profile(profiler, profile_lines):
    """Stops `profiler` and prints its (cumulative, tottime) top lines."""
    profiler.disable()
    logging.getLogger("odoo.sql_db").setLevel(logging.WARNING)
    stats = pstats.Stats(profiler)
    if os.environ.get("CSP_BENCH_PROFILE_OUT"):
        stats.dump_stats(os.environ["CSP_BENCH_PROFILE_OUT"])
    stats.sort_stats("cumulative").print_stats(profile_lines[0])
    stats.sort_stats("tottime").print_stats(profile_lines[1])


def timed_run(
    env, connection, label, modules, tables, *, analyze_tables=None, profile_lines=None,
    message=None, by_table=False,
):  # fmt: skip
    """One scheduled run (it commits per tenant, as the integrator does); prints and
    returns its figures. `tables`: those whose written rows are counted (and analysed
    first, with `analyze_tables`); `profile_lines`: (cumulative, tottime) lines printed
    when CSP_BENCH_PROFILE names words of the label (CSP_BENCH_SQLLOG=1 logs the SQL too,
    CSP_BENCH_PROFILE_OUT=<file> keeps the profile); `message`: "always" or "on_failure"
    adds the run's message; `by_table` adds the written rows by table and the
    connection's."""
    analyze(env, analyze_tables or tables)
    queries = sql_db.sql_counter
    logs_before = request_count(env)
    env.cr.execute("SELECT now() at time zone 'UTC'")
    since = env.cr.fetchone()[0]
    profiler = start_profile(label, profile_lines)
    started = time.perf_counter()
    run = connection._csp_sync(trigger="cron", modules=list(modules))
    env.cr.commit()
    seconds = time.perf_counter() - started
    if profiler:
        report_profile(profiler, profile_lines)
    figures = {
        "label": label,
        "seconds": round(seconds, 2),
        "state": run.state,
        "created": run.created,
        "updated": run.updated,
        "deactivated": run.deactivated,
        "skipped": run.skipped,
        "errors": run.error_count,
    }
    if message == "always":
        figures["message"] = (run.message or "")[:300]
    written = rows_written(env, since, tables)
    figures.update(
        sql_queries=sql_db.sql_counter - queries,
        http_requests=request_count(env) - logs_before,
        rows_written=sum(written.values()),
    )
    if by_table:
        figures["rows_written_by_table"] = written
        figures["connection_rows_written"] = rows_written(env, since, ("csp_connection",))[
            "csp_connection"
        ]
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if message == "on_failure" and run.message and run.state != "done":
        figures["message"] = run.message[:300]
    env.cr.commit()
    env.invalidate_all()
    print(f"  {label}: {json.dumps(figures)}", flush=True)
    return figures


def consent_everywhere(connection, control):
    """Every tenant with GDAP (and consent not blocked) consents; the tenants are read."""
    for tenant_state in control("GET", "state")["tenants"]:
        if tenant_state["gdap"] and not tenant_state["consent_blocked"]:
            control("POST", f"tenants/{tenant_state['id']}/consent", {})
    connection._csp_sync(trigger="manual", modules=["tenants"])


def give_customers(env, tenants):
    """One new customer (company) per tenant, given to it; returns the customers."""
    customers = env["res.partner"].create(
        [{"name": f"Customer {t.name}", "is_company": True} for t in tenants]
    )
    for tenant, customer in zip(tenants, customers, strict=True):
        tenant.partner_id = customer
    return customers


def map_office_sites(env, connection, tenants, customers):
    """Each tenant's users get their customer's sites from their officeLocation."""
    env["csp.site.mapping"].create(
        {
            "connection_id": connection.id,
            "kind": "field_sites",
            "customer_id": customer.id,
            "azure_field": "officeLocation",
            "tenant_ids": [(6, 0, [tenant.id])],
        }
        for tenant, customer in zip(tenants, customers, strict=True)
    )


def write_result(result, out_path, hidden=()):
    """Writes the result as JSON to `out_path` and prints it (without `hidden` keys),
    then stops the benchmark with exit status 1 when one of its targets (the "targets"
    key) is false: a target a benchmark measures never fails silently."""
    result = _public(result)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k not in hidden}, indent=2))
    failed = [name for name, held in result.get("targets", {}).items() if not held]
    if failed:
        print(f"FAILED targets: {'; '.join(failed)} (written to {out_path})", flush=True)
        raise SystemExit(1)


def _public(value):
    """`value` without the keys starting with "_" (unrounded figures kept for targets)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def in_fresh_shell(env, script, settings):
    """Runs scripts/`script` in a new `odoo shell` process on this database (it sees
    committed data only), with the environment variables `settings` and CSP_BENCH_RESULT:
    the file where it writes its figures as JSON. Returns those figures. A measurement
    in its own process has its own peak RSS and starts with no cache of this one."""
    with tempfile.TemporaryDirectory() as folder:
        result_path = os.path.join(folder, "result.json")
        command = [
            sys.executable, "-m", "odoo", "shell", "-c", config.rcfile, "-d", env.cr.dbname,
            "--no-http", f"--log-level={config['log_level']}",
        ]  # fmt: skip
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), script)) as source:
            subprocess.run(
                command, stdin=source, check=True,
                env={**os.environ, **settings, "CSP_BENCH_RESULT": result_path},
            )  # fmt: skip
        with open(result_path) as handle:
            return json.load(handle)
