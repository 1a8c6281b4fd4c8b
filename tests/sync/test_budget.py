"""The integrator's time budget (sync/budget.py), without a database: the budget from
its setting and Odoo's limits, the clock from what the worker has left, the spent test."""

import time
from types import SimpleNamespace
from unittest.mock import patch

import pytest

from odoo.service import server as odoo_server
from odoo.tools import config

from odoo.addons.csp_connector.microsoft.http import Clock
from odoo.addons.csp_connector.sync import budget


@pytest.fixture
def limits():
    """Odoo's time limits as a test sets them (restored after)."""
    keys = ("limit_time_real_cron", "limit_time_real", "limit_time_cpu")
    saved = {key: config.get(key) for key in keys}

    def set_limits(cron=-1, real=0, cpu=0):
        config["limit_time_real_cron"], config["limit_time_real"] = cron, real
        config["limit_time_cpu"] = cpu

    yield set_limits
    for key, value in saved.items():
        config[key] = value


def test_the_cron_limit_falls_back_to_the_real_limit_then_120_seconds(limits):
    limits(cron=300)
    assert budget.cron_time_limit() == 300.0
    limits(cron=0, real=200)
    assert budget.cron_time_limit() == 200.0
    limits(cron=-1, real=0)
    assert budget.cron_time_limit() == 120.0


def test_the_budget_is_its_setting_within_the_limit_or_60_percent_of_it(limits):
    limits(cron=100, cpu=50)
    assert budget.cron_budget(None) == (60.0, 30.0)
    assert budget.cron_budget("not a number") == (60.0, 30.0)
    assert budget.cron_budget("20") == (20.0, 30.0)
    assert budget.cron_budget("500") == (90.0, 30.0), "never past 90 % of the limit"
    assert budget.cron_budget("0.1") == (1.0, 30.0), "at least a second"
    limits(cron=100, cpu=0)
    assert budget.cron_budget("20") == (20.0, None), "no CPU limit: no CPU budget"


def test_the_clock_keeps_a_reserve_before_the_workers_limit(limits):
    limits(cron=120)
    prefork = odoo_server.PreforkServer.__new__(odoo_server.PreforkServer)
    prefork.pid = -1  # the parent: not this process
    worker = SimpleNamespace(watchdog_timeout=120)
    clock_state = {"worker": worker, "at": time.monotonic() - 60}  # pinged 60 s ago
    with (
        patch.object(odoo_server, "server", prefork),
        patch.dict(budget._WORKER_CLOCK, clock_state),
    ):
        clock = budget.cron_clock(100.0)
    now = time.monotonic()
    # 60 s left, 12 s reserve (10 % of 120): 48 s usable, the budget 60 % of it
    assert clock.hard - now == pytest.approx(48, abs=1)
    assert clock.soft - now == pytest.approx(0.6 * 48, abs=1)
    # no worker limit (a shell, a test): the budget alone
    clock = budget.cron_clock(5.0)
    assert clock.hard is None
    assert clock.soft - time.monotonic() == pytest.approx(5, abs=1)


def test_out_of_time_reads_the_deadlines_the_context_carries():
    def env(**context):
        return SimpleNamespace(context=context)

    assert not budget.out_of_time(env())
    assert budget.out_of_time(env(csp_deadline=time.monotonic() - 1))
    assert not budget.out_of_time(env(csp_deadline=time.monotonic() + 60))
    assert budget.out_of_time(env(csp_cpu_deadline=time.process_time() - 1))
    assert budget.out_of_time(env(csp_clock=Clock(soft=time.monotonic() - 1)))
    assert not budget.out_of_time(env(csp_clock=Clock(soft=time.monotonic() + 60)))
