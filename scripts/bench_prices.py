"""make bench-prices: the price sheet import's speed and memory against the sandbox.

Run by scripts/bench_prices.sh inside `odoo shell` (which provides `env`) on a fresh
database. The sandbox serves a licence price sheet of CSP_BENCH_ROWS rows (default
100,000: its catalogue's rows and generated ones, with the documented columns and the
change indicator), its clock and Odoo's set to a fixed day (freezegun). Pairs of runs
alternate (CSP_BENCH_PAIRS, at least 2): the baseline streams and parses the same sheet
without storing it (the download and the CSV: what no import can avoid), the measured
run is the prices step importing it into an empty price table, then the same step again
with nothing changed. Figures: time, rows per second, peak RSS, the RSS growth from 10%
to 100% of the file, rows written by the re-import, the median ratio of import to
baseline and its spread. Targets: RSS growth under 100 MB, a re-import writing 0 rows,
every row imported. JSON in CSP_BENCH_OUT. CSP_BENCH_PROFILE=<words> profiles the runs
whose label holds them (e.g. "import 1").
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import datetime as dt
import os
import time

import bench_common as bench
from freezegun import freeze_time

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector_billing.microsoft.price_sheets import PRICING_SCOPES, PriceSheets

from sandbox_connection import authorize, connection_values

state, out_path, control = bench.sandbox()
ROWS = int(os.environ.get("CSP_BENCH_ROWS", "100000"))
MARKET = "US"
DAY = dt.datetime(2027, 3, 10, 9, 0, 0)
GROWTH_LIMIT_MB = 100


def rss_mb():
    """This process's current RSS in MB (VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Memory:
    """RSS sampled after each batch of the import: the growth from 10% of the file on."""

    def __init__(self, total):
        self.total = total
        self.at_tenth = None
        self.peak_after = 0.0

    def __call__(self, counters):
        rss = rss_mb()
        if self.at_tenth is None and counters["rows"] >= self.total / 10:
            self.at_tenth = rss
        if self.at_tenth is not None:
            self.peak_after = max(self.peak_after, rss)

    def growth(self):
        return round(self.peak_after - (self.at_tenth or 0.0), 1)


def baseline(connection):
    """The sheet streamed and parsed, nothing stored: (seconds, rows)."""
    started = time.perf_counter()
    with connection._csp_call_microsoft() as http:
        sheets = PriceSheets(http, connection._csp_delegated_token(http, PRICING_SCOPES))
        count = sum(1 for _ in sheets.rows(MARKET))
    return time.perf_counter() - started, count


def measured(connection, label, memory=None):
    connection = connection.with_context(csp_price_progress=memory)
    code_env(connection).write({"price_import_requested": True})  # "Import prices now"
    env.cr.commit()
    figures = bench.timed_run(
        env, connection, label, ["prices"], ("csp_price", "csp_price_change"),
        message="always", profile_lines=(40, 30),
    )  # fmt: skip
    return figures


control("POST", "clock", {"set": DAY.strftime("%Y-%m-%dT%H:%M:%SZ")})
with freeze_time(DAY, tick=True):
    admin = env(user=env.ref("base.user_admin"), context={})
    integrator = env.ref("csp_connector.ir_cron_csp_integrator").user_id
    connection = admin["csp.connection"].create(
        connection_values(
            state, name="Benchmark partner", log_retention_days=0, price_market=MARKET,
            sync_prices=True,
        )
    )  # fmt: skip
    authorize(connection, state)
    env.cr.commit()
    catalogue_rows = baseline(connection)[1]
    control("PATCH", "pricing", {"extra_rows": max(ROWS - catalogue_rows, 0)})
    runs = []
    base_times, import_times, reimport_times = [], [], []
    for pair in range(bench.pairs()):
        seconds, rows = baseline(connection)
        base_times.append(seconds)
        print(f"  baseline {pair + 1}: {rows} rows streamed and parsed in {seconds:.1f} s")
        # an empty price table again (set-up: SQL, so the ORM's unlink of 100,000 rows
        # does not weigh on the next run's peak RSS)
        env.cr.execute("DELETE FROM csp_price WHERE connection_id = %s", [connection.id])
        env.cr.commit()
        memory = Memory(rows)
        bench_connection = connection.with_user(integrator)  # as the scheduled run
        first = measured(bench_connection, f"import {pair + 1}", memory)
        first.update(rows=rows, rss_growth_10_to_100_mb=memory.growth(),
                     rows_per_second=round(rows / first["seconds"], 1))  # fmt: skip
        again = measured(bench_connection, f"re-import without change {pair + 1}")
        again.update(rows_per_second=round(rows / again["seconds"], 1))
        import_times.append(first["seconds"])
        reimport_times.append(again["seconds"])
        runs.append({"import": first, "reimport": again})

imports = [r["import"] for r in runs]
reimports = [r["reimport"] for r in runs]
result = {
    "benchmark": "prices",
    "rows": runs[0]["import"]["rows"],
    "market": MARKET,
    "import": {
        "seconds": min(import_times),
        "rows_per_second": max(r["rows_per_second"] for r in imports),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in imports),
        "rss_growth_10_to_100_mb": max(r["rss_growth_10_to_100_mb"] for r in imports),
        "vs_baseline": bench.ratio_figures(base_times, import_times),
    },
    "reimport": {
        "seconds": min(reimport_times),
        "rows_written": max(r["rows_written"] for r in reimports),
        "vs_baseline": bench.ratio_figures(base_times, reimport_times),
    },
    "runs": runs,
}
bench.print_ratio("import / stream-and-parse", result["import"]["vs_baseline"])
bench.print_ratio("re-import / stream-and-parse", result["reimport"]["vs_baseline"])
result["targets"] = {
    f"RSS growth from 10% to 100% of the file under {GROWTH_LIMIT_MB} MB": result["import"][
        "rss_growth_10_to_100_mb"
    ]
    < GROWTH_LIMIT_MB,
    "a re-import without change writes 0 rows": result["reimport"]["rows_written"] == 0,
    "every row imported": all(r["created"] >= r["rows"] for r in imports),
}
bench.write_result(result, out_path)
