"""The integrator under Odoo's production server: ``odoo --workers=2`` (prefork, cron
workers, limit_time_real_cron) against a fresh database and a sandbox.

- One tenant answers every Graph call slower than the HTTP timeout: the others finish,
  the run ends "partial" with that tenant explained, no worker is killed for a limit,
  and the cron job re-ran itself (progress reported) instead of running past its budget.
  "Sync now" (over XML-RPC, as the web client calls it) returns at once.
- The server is killed mid-run (SIGKILL, then SIGTERM): once restarted, the open run
  resumes the interrupted step and completes every tenant's every step exactly once,
  with no duplicate contact.
- Odoo's default limits (120 s, the integrator's default budget and HTTP timeout), a
  scheduled run picked up at a cron worker's idle poll (its watchdog pinged about a
  minute before), every Graph call taking 3 s and one tenant's 29 s: no worker is
  killed, every tenant is done or explained.

Needs PostgreSQL (the database settings of `make test`); skipped in a plain
``pytest tests`` run without ``--odoo-database``. Takes about ten minutes.
"""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import psycopg2
import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
SETUP = pathlib.Path(__file__).with_name("setup_connection.py")
PY = sys.executable

# what Odoo kills a cron worker after (seconds). An idle cron worker sleeps up to 69 s
# between polls without a watchdog ping, so Odoo itself needs more than that.
LIMIT_TIME_REAL_CRON = 80
BUDGET = 4  # csp_connector.cron_budget: what one cron job may use
HTTP_TIMEOUT = 6  # csp_connector.http_timeout
SLOW = 9  # seconds the slow tenant takes per Graph call (more than the HTTP timeout)
LIMIT_MESSAGES = ("timeout after", "CPU time limit", "virtual memory limit")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Production:
    """A sandbox, a fresh database connected to it, and an Odoo server in prefork mode."""

    def __init__(self, tmp, config):
        self.tmp = tmp
        self.db = f"csp_cron_{os.getpid()}_{int(time.time())}"
        self.pg = {
            "host": config.get("db_host") or None,
            "port": config.get("db_port") or None,
            "user": config.get("db_user") or None,
            "password": config.get("db_password") or None,
        }
        self.conf = tmp / "odoo.conf"
        self.port = _free_port()
        self.conf.write_text(
            "[options]\n"
            + "".join(f"db_{key} = {value}\n" for key, value in self.pg.items() if value)
            + f"addons_path = {ROOT}\ndata_dir = {tmp / 'data'}\nwithout_demo = all\n"
            f"http_interface = 127.0.0.1\nhttp_port = {self.port}\n"
        )
        self.log = tmp / "server.log"
        self.server = None
        self.sandbox = None
        self.urls = None

    # -- set-up ---------------------------------------------------------------------

    def start_sandbox(self):
        state_file = self.tmp / "sandbox.json"
        self.sandbox = subprocess.Popen(
            [PY, "-m", "mscloud_sandbox", "serve", "--port", "0", "--seed", "3",
             "--tenants", "6", "--users", "6", "--ca-path", str(self.tmp / "ca.pem"),
             "--state-file", str(state_file)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not state_file.exists() or not state_file.stat().st_size:
            assert self.sandbox.poll() is None and time.monotonic() < deadline, "no sandbox"
            time.sleep(0.1)
        self.state = json.loads(state_file.read_text())
        self.urls = self.state["urls"]

    def create_database(self):
        subprocess.run(
            [PY, "-m", "odoo", "-c", str(self.conf), "-d", self.db, "-i", "csp_connector",
             "--stop-after-init", "--log-level=warn"],
            cwd=ROOT, check=True, timeout=900, capture_output=True,
        )  # fmt: skip
        params = {"cron_budget": BUDGET, "http_timeout": HTTP_TIMEOUT, "stale_seconds": 3,
                  "users_page_size": 2}  # fmt: skip
        done = subprocess.run(
            [PY, "-m", "odoo", "shell", "-c", str(self.conf), "-d", self.db, "--no-http",
             "--log-level=warn"],
            cwd=ROOT, check=True, timeout=300, capture_output=True, text=True,
            stdin=SETUP.open(),
            env={**os.environ, "CSP_SANDBOX_STATE": json.dumps(self.state),
                 "CSP_PARAMS": json.dumps(params)},
        )  # fmt: skip
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
        result = json.loads(line[len("RESULT ") :])
        self.connection = result["connection"]
        self.tenants = result["tenants"]  # Microsoft tenant id -> Odoo id

    # -- the server -------------------------------------------------------------------

    def start_server(self, limit=LIMIT_TIME_REAL_CRON):
        """Odoo in prefork mode; `limit`: limit_time_real_cron (None: Odoo's default)."""
        limits = [f"--limit-time-real-cron={limit}"] if limit else []
        self.server = subprocess.Popen(
            [PY, "-m", "odoo", "-c", str(self.conf), "-d", self.db, "--db-filter", f"^{self.db}$",
             "--workers=2", *limits, "--log-level=info", f"--logfile={self.log}"],
            cwd=ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{self.port}/web/webclient/version_info",
                                json={}, timeout=2).ok:  # fmt: skip
                    break
            assert self.server.poll() is None, self.log_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        self.login()

    def stop_server(self, sig=signal.SIGTERM, wait=120):
        if not self.server or self.server.poll() is not None:
            return
        os.killpg(self.server.pid, sig)
        try:
            self.server.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(30)
        with contextlib.suppress(ProcessLookupError):  # workers left behind
            os.killpg(self.server.pid, signal.SIGKILL)
        time.sleep(1)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def login(self):
        common = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self.port}/xmlrpc/2/common")
        self.uid = common.authenticate(self.db, "admin", "admin", {})

    def rpc(self, model, method, *args):
        """A button, called as a client calls it (the admin's rights)."""
        models = xmlrpc.client.ServerProxy(
            f"http://127.0.0.1:{self.port}/xmlrpc/2/object", allow_none=True
        )
        return models.execute_kw(self.db, self.uid, "admin", model, method, list(args))

    # -- the sandbox and the database ------------------------------------------------------

    def control(self, method, path, payload=None):
        response = requests.request(
            method, f"{self.urls['control']}/{path}", json=payload,
            verify=str(self.tmp / "ca.pem"), timeout=30,
        )  # fmt: skip
        response.raise_for_status()
        return response.json() if response.content else None

    def query(self, sql, params=()):
        with (
            contextlib.closing(psycopg2.connect(dbname=self.db, **self.pg)) as cnx,
            cnx.cursor() as cr,
        ):
            cr.execute(sql, params)
            return cr.fetchall()

    def query_commit(self, sql, params=()):
        with contextlib.closing(psycopg2.connect(dbname=self.db, **self.pg)) as cnx:
            with cnx.cursor() as cr:
                cr.execute(sql, params)
            cnx.commit()

    def run_state(self, run_id):
        return self.query("SELECT state FROM csp_sync_run WHERE id = %s", [run_id])[0][0]

    def wait_run(self, run_id, timeout=300):
        deadline = time.monotonic() + timeout
        while self.run_state(run_id) == "running":
            assert time.monotonic() < deadline, (
                f"run {run_id} still running:\n" + (self.log_text()[-3000:])
            )
            time.sleep(1)
        return self.run_state(run_id)

    def lines(self, run_id):
        """[(tenant id, step, state, message)] of the run."""
        return self.query(
            "SELECT csp_tenant_id, step, state, message FROM csp_sync_run_line "
            "WHERE run_id = %s ORDER BY id",
            [run_id],
        )

    def cron_calls(self):
        return self.query(
            "SELECT count(*) FROM ir_cron_progress p JOIN ir_model_data d "
            "ON d.model = 'ir.cron' AND d.res_id = p.cron_id AND d.name = 'ir_cron_csp_integrator'"
        )[0][0]

    def cleanup(self):
        self.stop_server(signal.SIGKILL, wait=30)
        if os.environ.get("CSP_KEEP_DB"):
            print(f"\nkept database {self.db}")  # to look into a failure
            self.db = None
        if self.sandbox:
            self.sandbox.terminate()
            self.sandbox.wait(30)
        with contextlib.suppress(psycopg2.Error):
            if not self.db:
                return
            cnx = psycopg2.connect(dbname="postgres", **self.pg)
            cnx.autocommit = True
            with cnx.cursor() as cr:
                cr.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            cnx.close()


@pytest.fixture(scope="module")
def production():
    try:
        import odoo  # noqa: PLC0415
    except ImportError:
        pytest.skip("needs Odoo")
    config = odoo.tools.config
    if not config.get("db_name"):
        pytest.skip("needs PostgreSQL: run through make test (or pass --odoo-database)")
    with tempfile.TemporaryDirectory(prefix="csp-cron-") as tmp:
        harness = Production(pathlib.Path(tmp), config)
        try:
            harness.start_sandbox()
            harness.create_database()
            yield harness
        finally:
            harness.cleanup()


def test_a_slow_tenant_delays_never_stalls_the_others(production):
    slow_tid = sorted(production.tenants)[0]
    slow = production.tenants[slow_tid]
    production.control("POST", "faults", {"service": "graph", "tenant": slow_tid, "delay": SLOW})
    production.start_server()
    calls_before = production.cron_calls()
    # a first call loads the registry in the web worker: not the button's time
    production.rpc("csp.connection", "search_count", [])
    started = time.monotonic()
    action = production.rpc("csp.connection", "action_sync_now", [production.connection])
    answered = time.monotonic() - started
    # a sync in the request would wait at least one slow Graph call (SLOW s)
    assert answered < SLOW, f"Sync now took {answered:.1f} s"
    run_id = action["res_id"]
    assert production.wait_run(run_id) == "partial"
    took = time.monotonic() - started
    lines = production.lines(run_id)
    for tenant_id in production.tenants.values():
        steps = {(m, s) for t, m, s, _msg in lines if t == tenant_id and s != "paused"}
        if tenant_id == slow:
            assert steps == {("tenants", "error"), ("users", "error")}, steps
        else:
            assert steps == {("tenants", "done"), ("users", "done")}, (tenant_id, steps)
    slow_messages = [msg for t, _m, s, msg in lines if t == slow and s == "error"]
    assert all("could not be reached" in msg for msg in slow_messages), slow_messages
    others = [t for t in production.tenants.values() if t != slow]
    contacts = production.query(
        "SELECT count(*) FROM csp_user_binding WHERE csp_tenant_id = ANY(%s) "
        "AND partner_id IS NOT NULL",
        [others],
    )[0][0]
    assert contacts >= len(others) * 5
    log = production.log_text()
    assert not [m for m in LIMIT_MESSAGES if m in log], "a worker hit an Odoo limit"
    calls = production.cron_calls() - calls_before
    assert calls >= 3, "the job re-ran itself within its budget"
    print(  # the figures of the run, for the report
        f"\nslow tenant: Sync now answered in {answered:.2f} s; run took {took:.0f} s over "
        f"{calls} cron job calls (budget {BUDGET} s, limit {LIMIT_TIME_REAL_CRON} s); "
        f"{len(others)} other tenants done, {contacts} contacts"
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_server_resumes_every_step_exactly(production, sig):
    production.control("DELETE", "faults")
    # every Graph call takes a moment, so that the kill lands inside a tenant's step
    production.control("POST", "faults", {"service": "graph", "delay": 0.4})
    added = {}
    for tid in production.tenants:
        address = f"new.{sig.name.lower()}@{tid[:8]}.example.com"
        user = production.control(
            "POST", f"tenants/{tid}/users",
            {"userPrincipalName": address, "displayName": f"New {sig.name}", "mail": address,
             "accountEnabled": True},
        )  # fmt: skip
        added[tid] = user["id"]
    if not production.server or production.server.poll() is not None:
        production.start_server()
    # full reads again: each tenant's users step spans several pages and cron calls
    production.rpc("csp.tenant", "action_reset_users", list(production.tenants.values()))
    # what exists before the run, by id: a run's `started` is cut to the second while
    # create_date is not, so a date cannot tell the previous run's last commits (the
    # same second) from this run's
    partners_before = {pid for (pid,) in production.query("SELECT id FROM res_partner")}
    bindings_before = dict(production.query("SELECT id, partner_id FROM csp_user_binding"))
    action = production.rpc("csp.connection", "action_sync_now", [production.connection])
    run_id = action["res_id"]
    deadline = time.monotonic() + 120
    # killed inside a tenant's step (its heartbeat names it), after a few steps
    while (
        len(production.lines(run_id)) < 3
        or not production.query("SELECT current_step FROM csp_sync_run WHERE id = %s", [run_id])[0][
            0
        ]
    ):
        assert time.monotonic() < deadline, production.log_text()[-3000:]
        assert production.run_state(run_id) == "running"
        time.sleep(0.1)
    production.stop_server(sig)
    at_kill = production.lines(run_id)
    assert production.run_state(run_id) == "running", "killed before the run ended"
    (in_step,) = production.query("SELECT current_step FROM csp_sync_run WHERE id = %s", [run_id])[
        0
    ]
    production.start_server()
    assert production.wait_run(run_id) == "done"
    (message,) = production.query("SELECT message FROM csp_sync_run WHERE id = %s", [run_id])[0]
    if in_step:  # killed inside a step: taken over once its heartbeat went stale
        assert "The worker stopped during" in message, message
    lines = production.lines(run_id)
    finished = [(t, m) for t, m, s, _msg in lines if s != "paused" and t]
    assert [m for t, m, _s, _msg in lines if not t] == ["tenants"], "one discovery"
    assert sorted(finished) == sorted(
        (t, m) for t in production.tenants.values() for m in ("tenants", "users")
    ), "every step of every tenant exactly once"
    assert all(s in ("done", "paused") for _t, _m, s, _msg in lines)
    for tid, object_id in added.items():
        bound = production.query(
            "SELECT count(*), count(DISTINCT partner_id) FROM csp_user_binding "
            "WHERE csp_tenant_id = %s AND microsoft_id = %s AND partner_id IS NOT NULL",
            [production.tenants[tid], object_id],
        )[0]
        assert bound == (1, 1), (tid, bound)
    duplicates = production.query(
        "SELECT lower(email), commercial_partner_id, count(*) FROM res_partner "
        "WHERE email IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert not duplicates
    new_partners = {pid for (pid,) in production.query("SELECT id FROM res_partner")}
    new_partners -= partners_before
    bindings = production.query(
        "SELECT id, csp_tenant_id, upn, partner_id FROM csp_user_binding ORDER BY id"
    )
    # (binding, tenant, upn, contact) made or given a contact during the run
    bound_now = [row for row in bindings if bindings_before.get(row[0], 0) != row[3]]
    assert len([row for row in bound_now if row[0] not in bindings_before]) >= len(added)
    # the run bound only contacts it created (no older, protected or shared contact
    # taken), and each contact it created is bound (none left over by a page applied
    # twice after the resume)
    rebound = [row for row in bound_now if row[3] not in new_partners]
    assert not rebound, rebound
    unbound = new_partners - {row[3] for row in bindings}
    assert not unbound, production.query(
        "SELECT id, name, email, create_date FROM res_partner WHERE id = ANY(%s)",
        [sorted(unbound)],
    )
    # every binding has its contact, and it is that user's (same e-mail)
    strays = production.query(
        "SELECT b.id, b.upn, b.mail, p.email FROM csp_user_binding b "
        "LEFT JOIN res_partner p ON p.id = b.partner_id "
        "WHERE p.id IS NULL OR (b.mail IS NOT NULL AND lower(b.mail) != lower(p.email))"
    )
    assert not strays, strays
    shared = production.query(
        "SELECT partner_id FROM csp_user_binding WHERE partner_id IS NOT NULL "
        "GROUP BY 1 HAVING count(*) > 1"
    )
    assert not shared
    print(
        f"\n{sig.name}: killed after {len(at_kill)} run lines (in step {in_step!r}); resumed "
        f"run done with "
        f"{len(lines)} lines ({len([1 for *_x, s, _m in lines if s == 'paused'])} paused), "
        f"{len(new_partners)} new contacts ({len(added)} new users), no duplicate"
    )


def test_a_scheduled_run_at_the_idle_poll_with_slow_answers_kills_no_worker(production):
    production.stop_server()
    production.control("DELETE", "faults")
    slow_tid = sorted(production.tenants)[1]
    slow = production.tenants[slow_tid]
    # the first matching rule answers: the slow tenant's before everyone's
    production.control("POST", "faults", {"service": "graph", "tenant": slow_tid, "delay": 29})
    production.control("POST", "faults", {"service": "graph", "delay": 3})
    # Odoo's and the integrator's defaults: limit_time_real 120 s, budget, HTTP timeout
    production.query_commit(
        "DELETE FROM ir_config_parameter WHERE key IN ('csp_connector.cron_budget', "
        "'csp_connector.http_timeout', 'csp_connector.stale_seconds')"
    )
    # a scheduled run, due before the server starts: no trigger wakes a worker, each
    # picks it up after its first idle wait (up to 69 s after its first watchdog ping)
    production.query_commit(
        "UPDATE csp_sync_run SET state = 'done' WHERE state = 'running';"
        "UPDATE csp_connection SET integrator_enabled = true, "
        "next_sync = (now() at time zone 'UTC') - interval '1 hour';"
        "DELETE FROM ir_cron_trigger;"
        "UPDATE ir_cron SET nextcall = (now() at time zone 'UTC') - interval '1 minute' "
        "WHERE id = (SELECT res_id FROM ir_model_data WHERE module = 'csp_connector' "
        "AND name = 'ir_cron_csp_integrator')"
    )
    (last_run,) = production.query("SELECT coalesce(max(id), 0) FROM csp_sync_run")[0]
    log_before = len(production.log_text())
    started = time.monotonic()
    production.start_server(limit=None)
    deadline = time.monotonic() + 300
    while not production.query("SELECT id FROM csp_sync_run WHERE id > %s", [last_run]):
        assert time.monotonic() < deadline, production.log_text()[-3000:]
        time.sleep(1)
    picked = time.monotonic() - started
    (run_id,) = production.query("SELECT min(id) FROM csp_sync_run WHERE id > %s", [last_run])[0]
    assert production.query("SELECT trigger FROM csp_sync_run WHERE id = %s", [run_id])[0][0] == (
        "cron"
    )
    state = production.wait_run(run_id, timeout=1500)
    took = time.monotonic() - started
    log = production.log_text()[log_before:]
    killed = [m for m in LIMIT_MESSAGES if m in log]
    assert not killed, [line for line in log.splitlines() if any(m in line for m in killed)]
    assert state in ("done", "partial")
    lines = production.lines(run_id)
    for tenant_id in production.tenants.values():
        final = {(m, s) for t, m, s, _msg in lines if t == tenant_id and s != "paused"}
        assert {m for m, _s in final} == {"tenants", "users"}, (tenant_id, final)
        for t, m, s, msg in lines:
            if t == tenant_id and s in ("error", "skipped"):
                assert msg, (tenant_id, m, "an error without its explanation")
    fast_done = [t for t in production.tenants.values() if t != slow and all(
        s == "done" for tt, _m, s, _msg in lines if tt == t and s != "paused")]  # fmt: skip
    assert len(fast_done) == len(production.tenants) - 1, lines
    paused = len([1 for *_x, s, _m in lines if s == "paused"])
    print(
        f"\nidle poll: the scheduled job started {picked:.0f} s after the server; run {state} "
        f"in {took:.0f} s with {len(lines)} lines ({paused} paused); slow tenant: "
        f"{[(m, s) for t, m, s, _msg in lines if t == slow]}; no worker killed"
    )
