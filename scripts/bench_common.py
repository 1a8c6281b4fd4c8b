"""What the benchmarks (scripts/bench_<name>.py) share: the sandbox's control API, one
timed scheduled run with its figures, the customers' set-up and the result's output.

Imported by those scripts inside `odoo shell`: scripts/bench_<name>.sh (run_benchmark in
scripts/lib.sh) puts scripts/ on PYTHONPATH. The shell's `env` is passed in explicitly
(the scripts switch it to the benchmark's user).
"""

# pylint: disable=print-used
import cProfile
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
    """How many baseline/measured pairs a benchmark runs (CSP_BENCH_PAIRS, at least 2)."""
    return max(2, int(os.environ.get("CSP_BENCH_PAIRS", "2")))


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
