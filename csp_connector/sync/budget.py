# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The integrator's time budget: how long one cron call may sync, measured from what
Odoo's worker has left before it kills the call, and whether that time is spent.

No ORM here: the budget's setting (``csp_connector.cron_budget``) is read by the
model and handed in; Odoo's configuration and server are read as plain Python.
"""

import os
import resource
import threading
import time

from odoo.service import server as odoo_server
from odoo.tools import config

from ..microsoft.http import Clock

BUDGET_SHARE = 0.6  # of Odoo's cron time limits, when no budget is set
RESERVE_SHARE = 0.1  # of the time limit, kept after the last call (commit, progress, Odoo)
MIN_RESERVE = 5.0

# when this process's Odoo worker last pinged its watchdog (see _install_worker_clock)
_WORKER_CLOCK = {"worker": None, "at": None}


def _install_worker_clock():
    """Note, in each prefork worker, when it last pinged Odoo's watchdog.

    Odoo's parent process kills a worker whose last ping is older than its limit
    (``limit_time_real_cron`` for cron workers). A worker pings right after
    ``check_limits()``, then waits for work (an idle cron worker up to 69 s), then runs
    every ready job: a job does not start with the whole limit. Only the parent keeps
    the ping's time, so the worker notes it here (before the ping: never later)."""
    original = odoo_server.Worker.check_limits
    if getattr(original, "csp_clock", False):
        return

    def check_limits(self):
        _WORKER_CLOCK.update(worker=self, at=time.monotonic())
        return original(self)

    check_limits.csp_clock = True
    odoo_server.Worker.check_limits = check_limits


_install_worker_clock()


def cron_time_limit():
    """Seconds a cron job may run before Odoo kills it (limit_time_real_cron, which
    -1 or 0 sends back to limit_time_real; 120 when that is off too)."""
    limit = config.get("limit_time_real_cron") or -1
    if limit <= 0:
        limit = config.get("limit_time_real") or 0
    return float(limit) if limit > 0 else 120.0


def cron_budget(setting):
    """(wall seconds, CPU seconds) one integrator cron job may use.

    ``setting``: the system parameter ``csp_connector.cron_budget`` (seconds, text),
    the wall budget; by default (unset or not a number) it is 60 % of the cron time
    limit. Odoo also stops a worker that used ``limit_time_cpu`` of CPU in one unit of
    work: 60 % of that is the CPU budget.
    """
    limit = cron_time_limit()
    try:
        wall = float(setting) if setting else limit * BUDGET_SHARE
    except ValueError:
        wall = limit * BUDGET_SHARE
    wall = max(1.0, min(wall, limit * 0.9))
    cpu_limit = config.get("limit_time_cpu") or 0
    cpu = cpu_limit * BUDGET_SHARE if cpu_limit > 0 else None
    return wall, cpu


def cpu_deadline(budget):
    """time.process_time() at which a cron job stops: `budget` seconds of CPU from now,
    and never closer than a margin to the CPU limit Odoo's prefork worker set on the
    process (RLIMIT_CPU, reset before each unit of work: other jobs may have used it)."""
    now = time.process_time()
    deadline = now + budget if budget else None
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_CPU)
    except (AttributeError, ValueError, OSError):
        return deadline
    if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
        margin = max(5.0, 0.2 * (config.get("limit_time_cpu") or 0))
        deadline = min(deadline, soft - margin) if deadline else soft - margin
    return deadline


def worker_time_left():
    """Seconds before Odoo stops the current unit of work of this process for its
    real-time limit, or None when no such limit applies (tests, shell, no workers).

    - a prefork worker: its limit less the time since its last watchdog ping (0 when
      the ping is unknown: the registry was loaded after it, in this very unit of work,
      so the job waits for the next ping);
    - a cron thread of the threaded server: the cron limit less the time since the
      thread started this round of jobs.
    """
    thread = threading.current_thread()
    started = getattr(thread, "start_time", None)
    if getattr(thread, "type", None) == "cron" and started:
        return cron_time_limit() - (time.time() - started)
    prefork = odoo_server.server
    if not isinstance(prefork, odoo_server.PreforkServer) or prefork.pid == os.getpid():
        return None
    worker, pinged = _WORKER_CLOCK["worker"], _WORKER_CLOCK["at"]
    if worker is None:
        return 0.0
    if not worker.watchdog_timeout:
        return None
    return worker.watchdog_timeout - (time.monotonic() - pinged)


def cron_clock(wall):
    """The Clock of one integrator cron call with `wall` seconds of budget (see
    cron_budget), measured from what the worker has left.

    ``hard`` is the worker's time left less a reserve (10 % of the limit, at least 5 s:
    the last commit, the progress report and Odoo's own bookkeeping); ``soft`` (the
    budget) is the budget from now, never more than 60 % of the time until ``hard``,
    so the step running at the budget's end still has time for its calls.
    """
    now = time.monotonic()
    left = worker_time_left()
    if left is None:
        return Clock(soft=now + wall)
    usable = max(0.0, left - max(MIN_RESERVE, RESERVE_SHARE * cron_time_limit()))
    return Clock(soft=now + min(wall, usable * BUDGET_SHARE), hard=now + usable)


def out_of_time(env):
    """Whether the time budget of the running cron job is spent, as `env`'s context
    carries it: its Clock (budget spent, or the next call could not end before the
    worker's limit), or the CPU budget."""
    deadline = env.context.get("csp_deadline")
    cpu_deadline = env.context.get("csp_cpu_deadline")
    clock = env.context.get("csp_clock")
    return bool(
        (deadline and time.monotonic() >= deadline)
        or (clock is not None and clock.spent())
        or (cpu_deadline and time.process_time() >= cpu_deadline)
    )
