"""make bench-scale: a run of many tenants, serial against the job queue.

Run by scripts/bench_scale.sh: inside `odoo shell` (which provides `env`) for the
set-up (CSP_BENCH_PHASE=setup, on the template database: a connection, consent,
customers and their sites; not timed) and for each measured run (=run, on a fresh copy
of it: CSP_BENCH_MODE "serial", or a number of concurrent jobs while two Odoo
processes with the job runner serve the database); then with plain Python for the
summary (=summary: medians, speed-ups, targets, bench-results/scale.json).

A measured run is the users step of every tenant, started as the integrator cron
starts it (as its user): serial, the run carries every tenant in this process; through
the queue, it deals the jobs and the wall time runs until the last job closed the run.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell` (not in the summary phase)
# pylint: disable=print-used
import glob
import hashlib
import json
import os
import statistics
import time

import bench_common as bench

from sandbox_connection import connection_values

PHASE = os.environ["CSP_BENCH_PHASE"]
TARGET_SPEED_UP = 5.0
POLL_SECONDS = 0.2
RUN_TIMEOUT = float(os.environ.get("CSP_BENCH_RUN_TIMEOUT", "7200"))


def setup():
    state, _out, control = bench.sandbox()
    admin_env = env(user=env.ref("base.user_admin"), context={})
    connection = admin_env["csp.connection"].create(
        connection_values(
            state, name="Benchmark partner", relationship_mode="gdap_only",
            queue_jobs=False,  # the set-up's discovery runs here
        )
    )  # fmt: skip
    started = time.perf_counter()
    bench.consent_everywhere(connection, control)
    tenants = connection.tenant_ids.filtered(lambda t: t.consent_state == "granted").sorted("id")
    customers = bench.give_customers(admin_env, tenants)
    bench.map_office_sites(admin_env, connection, tenants, customers)
    env.cr.commit()
    print(
        f"  set-up: {len(connection.tenant_ids)} tenants, {len(tenants)} with consent, "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def written(cr):
    """What the run wrote that a user sees, as one digest, and its duplicates."""
    cr.execute(
        """SELECT t.tenant_id, b.microsoft_id, p.name, p.email, site.name
             FROM csp_user_binding b
             JOIN csp_tenant t ON t.id = b.csp_tenant_id
             LEFT JOIN res_partner p ON p.id = b.partner_id
             LEFT JOIN res_partner site ON site.id = p.parent_id
            ORDER BY 1, 2"""
    )
    rows = cr.fetchall()
    digest = hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:16]
    cr.execute(
        """SELECT count(*) FROM (SELECT csp_tenant_id, microsoft_id FROM csp_user_binding
            GROUP BY 1, 2 HAVING count(*) > 1) d"""
    )
    duplicate_bindings = cr.fetchone()[0]
    cr.execute(
        """SELECT count(*) FROM (SELECT p.parent_id, lower(p.email) FROM csp_user_binding b
             JOIN res_partner p ON p.id = b.partner_id WHERE p.email IS NOT NULL
            GROUP BY 1, 2 HAVING count(*) > 1) d"""
    )
    duplicate_contacts = cr.fetchone()[0]
    return len(rows), digest, duplicate_bindings + duplicate_contacts


def measured_run():
    mode = os.environ["CSP_BENCH_MODE"]
    user = env.ref("csp_connector.ir_cron_csp_integrator").user_id
    run_env = env(user=user, context={})
    connection = run_env["csp.connection"].search([], limit=1)
    connection.sudo().write(
        {"queue_jobs": mode != "serial", "queue_capacity": 1 if mode == "serial" else int(mode)}
    )
    env.cr.commit()
    requests_before = bench.request_count(env)
    started = time.perf_counter()
    run = connection._csp_sync(trigger="cron", modules=["users"])
    env.cr.commit()
    run_id = run.id
    state = run.state
    while state == "running" and time.perf_counter() - started < RUN_TIMEOUT:
        time.sleep(POLL_SECONDS)
        with env.registry.cursor() as cr:
            cr.execute("SELECT state FROM csp_sync_run WHERE id = %s", [run_id])
            state = cr.fetchone()[0]
    seconds = time.perf_counter() - started
    requests = bench.request_count(env) - requests_before
    with env.registry.cursor() as cr:
        cr.execute(
            "SELECT created, updated, error_count, message FROM csp_sync_run WHERE id = %s",
            [run_id],
        )
        created, updated, errors, message = cr.fetchone()
        rows, digest, duplicates = written(cr)
        cr.execute(
            "SELECT count(*), avg(exec_time) FROM queue_job WHERE identity_key LIKE %s",
            [f"csp-run:{run_id}:%"],
        )
        jobs, job_seconds = cr.fetchone()
    figures = {
        "mode": mode, "round": int(os.environ["CSP_BENCH_ROUND"]), "seconds": round(seconds, 2),
        "state": state, "jobs": jobs, "job_seconds_mean": round(job_seconds or 0, 2),
        "requests": requests,
        "requests_per_second": round(requests / seconds, 1), "created": created,
        "updated": updated, "errors": errors, "rows": rows, "digest": digest,
        "duplicates": duplicates,
    }  # fmt: skip
    if state != "done" and message:
        figures["message"] = message[:300]
    print(f"  round {figures['round']}, {mode}: {json.dumps(figures)}", flush=True)
    path = os.path.join(os.environ["CSP_BENCH_RESULTS"], f"{figures['round']}-{mode}.json")
    with open(path, "w") as handle:
        json.dump(figures, handle)


def summary():
    results = []
    for path in sorted(glob.glob(os.path.join(os.environ["CSP_BENCH_RESULTS"], "*.json"))):
        with open(path) as handle:
            results.append(json.load(handle))
    jobs = os.environ["CSP_BENCH_JOBS"]
    by_round = {}
    for figures in results:
        by_round.setdefault(figures["round"], {})[figures["mode"]] = figures
    rounds = [by_round[key] for key in sorted(by_round)]
    result = {
        "tenants": int(os.environ["CSP_BENCH_TENANTS"]),
        "users_per_tenant": int(os.environ["CSP_BENCH_USERS"]),
        "latency_ms": os.environ["CSP_BENCH_LATENCY_MS"],
        "runs": results,
    }
    print("== Results (median of the rounds; speed-up against the serial run of its round)")
    speed_ups = {}
    for mode in ("serial", "1", jobs):
        seconds = [r[mode]["seconds"] for r in rounds]
        rps = [r[mode]["requests_per_second"] for r in rounds]
        line = {
            "wall_seconds_median": round(statistics.median(seconds), 2),
            "requests_per_second_median": round(statistics.median(rps), 1),
        }
        if mode != "serial":
            ratios = [r["serial"]["seconds"] / r[mode]["seconds"] for r in rounds]
            speed_ups[mode] = statistics.median(ratios)
            line.update(
                speed_up_median=round(statistics.median(ratios), 2),
                speed_up_min=round(min(ratios), 2),
                speed_up_max=round(max(ratios), 2),
            )
        label = "serial" if mode == "serial" else f"queue_job, {mode} concurrent jobs"
        result[label] = line
        print(f"  {label}: {json.dumps(line)}", flush=True)
    digests = {r["digest"] for r in results}
    result["targets"] = {
        f"{jobs} jobs at least {TARGET_SPEED_UP}x faster than serial (median "
        f"{speed_ups[jobs]:.2f}x)": speed_ups[jobs] >= TARGET_SPEED_UP,
        "every run wrote the same rows": len(digests) == 1,
        "no duplicate binding or contact": all(r["duplicates"] == 0 for r in results),
        "every run ended": all(r["state"] in ("done", "partial") for r in results),
        "the same errors in every run": len({r["errors"] for r in results}) == 1,
    }
    bench.write_result(result, os.environ["CSP_BENCH_OUT"], hidden=("runs",))


if PHASE == "setup":
    setup()
elif PHASE == "run":
    measured_run()
else:
    summary()
