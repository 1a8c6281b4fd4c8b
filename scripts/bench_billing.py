"""make bench-billing: OCA contract's invoicing run with our pro-rata adjustment lines,
against the same run on the same contracts without them.

Run by scripts/bench_billing.sh inside `odoo shell` (which provides `env`) on a fresh
database, with the sandbox serving about 600 tenants. Set-up, through the real flow and
not timed: 500 customers (CSP_BENCH_CUSTOMERS), each with 10 billed Partner Center
subscriptions (topped up in the sandbox, monthly and annual), a monthly and a yearly
sale contract starting this month, the licences and billing steps (contract lines, the
MSP's prices), then 5 % of the subscriptions change quantity in Partner Center (the
sandbox's control API) mid-cycle, after the contracts' first period was invoiced (OCA
contract's cron, today), and the licences and billing steps run again: each change
becomes two adjustments (credit of the old seats, charge of the new) on one one-shot
contract line, due with the contract's next invoice.

Dates: the set-up runs on today's date (the sandbox and PostgreSQL keep the real clock),
the measured runs on the first day of next month (freezegun), when the monthly
contracts' next period and the one-shot lines are due, whatever day the bench runs.

Measured: OCA contract's own invoicing cron (`cron_recurring_create_invoice`, as its
cron user, on the first day of next month) over all the contracts, in a fresh `odoo
shell` process per run (so each run's peak RSS is its own and no run inherits another's
cache), never committed (rolled back), so every run starts from the same committed
database:

* "with adjustments": the contracts as the billing step left them;
* "without adjustments": the same contracts, the one-shot adjustment lines deleted in
  the same transaction before the timer starts (the deletion is not timed, and is
  rolled back with the run).

Runs alternate without, with, without, with... (CSP_BENCH_PAIRS pairs, default 2; the
older CSP_BENCH_REPEAT too); the median of the pairs' ratios is judged (target: with <=
1.3 x without), with its spread. The bench fails (exit status 1) when a target is false,
e.g. no adjustment line was due or one was not invoiced exactly once. Prints the figures
and writes them as JSON (path in CSP_BENCH_OUT). CSP_BENCH_PROFILE=with (or without)
profiles those runs (CSP_BENCH_PROFILE_OUT=<file> keeps the profile).
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import datetime as dt
import json
import os
import random
import time

import bench_common as bench
from freezegun import freeze_time

from odoo import fields, sql_db

from mscloud_sandbox.generate import catalogue
from sandbox_connection import authorize, connection_values

VARIANT = os.environ.get("CSP_BENCH_BILLING_VARIANT")  # set in the measuring processes
SUBSCRIPTIONS = int(os.environ.get("CSP_BENCH_SUBSCRIPTIONS", "10"))
CUSTOMERS = int(os.environ.get("CSP_BENCH_CUSTOMERS", "500"))
CHANGING = float(os.environ.get("CSP_BENCH_CHANGING", "0.05"))
os.environ.setdefault("CSP_BENCH_PAIRS", os.environ.get("CSP_BENCH_REPEAT", "2"))
INVOICE_DAY = os.environ.get("CSP_BENCH_INVOICE_DAY")  # set in the measuring processes
MARGIN = 1.2  # the MSP's price: Microsoft's list price + 20 %
TARGET = 1.3


class WarmedUp(Exception):
    pass


def warm_up(contracts):
    """One contract invoiced and undone: this fresh process computes Odoo's dependency
    trees and caches once, as a running server already has (the same contract in every
    run, outside the timer)."""
    first = contracts.search([("recurring_next_date", "!=", False)], order="id", limit=1)
    try:
        with contracts.env.cr.savepoint():
            first._recurring_create_invoice()
            raise WarmedUp()
    except WarmedUp:
        pass
    contracts.env.invalidate_all()


def due_one_shots(env, day):
    """The adjustments' one-shot lines the contracts' invoicing on `day` must invoice:
    not invoiced yet, not cancelled, due by then."""
    return (
        env["csp.billing.adjustment"]
        .search([])
        .contract_line_id.filtered(
            lambda line: (
                not line.last_date_invoiced
                and not line.is_canceled
                and line.recurring_next_date
                and line.recurring_next_date <= day
            )
        )
    )


def invoice_run(env, variant):
    """One invoicing run by OCA contract's cron (in this fresh process, on INVOICE_DAY),
    rolled back. "without": the adjustments' one-shot lines are deleted first (not
    timed)."""
    day = fields.Date.to_date(INVOICE_DAY)
    due = due_one_shots(env, day)
    one_shots = env["csp.billing.adjustment"].search([]).contract_line_id
    removed = 0
    if variant == "without":
        removed = len(due)
        due.unlink()
        env.flush_all()
    cron = env.ref("contract.contract_cron_for_invoice")
    contracts = env(user=cron.user_id, context={})["contract.contract"]
    warm_up(contracts)
    env.cr.execute("SELECT coalesce(max(id), 0) FROM account_move")
    last_move = env.cr.fetchone()[0]
    rss_before = bench.peak_rss_mb()
    queries = sql_db.sql_counter
    profiler = bench.start_profile(variant, (40, 25))
    started = time.perf_counter()
    contracts.cron_recurring_create_invoice()
    env.flush_all()
    seconds = time.perf_counter() - started
    if profiler:
        bench.report_profile(profiler, (40, 25))
    figures = {"seconds": round(seconds, 2), "sql_queries": sql_db.sql_counter - queries}
    moves = env["account.move"].search([("id", ">", last_move)])
    lines = moves.invoice_line_ids.filtered(lambda ml: ml.display_type == "product")
    invoiced = lines.filtered(lambda ml: ml.contract_line_id in one_shots)
    times = {}
    for line in invoiced:
        times[line.contract_line_id.id] = times.get(line.contract_line_id.id, 0) + 1
    figures.update(
        invoice_day=INVOICE_DAY,
        invoices=len(moves),
        invoice_lines=len(lines),
        adjustment_lines_due=len(due),
        adjustment_lines_invoiced=len(invoiced),
        adjustment_lines_invoiced_once=sum(1 for line in due if times.get(line.id) == 1),
        adjustment_lines_invoiced_not_due=len(set(times) - set(due.ids)),
        adjustment_lines_removed_before=removed,
        draft=all(m.state == "draft" for m in moves),
        amount_untaxed=round(sum(moves.mapped("amount_untaxed")), 2),
        peak_rss_mb_before=round(rss_before, 1),
        peak_rss_mb=round(bench.peak_rss_mb(), 1),
    )
    env.cr.rollback()
    return figures


if VARIANT:  # a measuring process (started below): one run, its figures to a file
    with freeze_time(dt.datetime.combine(fields.Date.to_date(INVOICE_DAY), dt.time(9)), tick=True):
        figures = invoice_run(env, VARIANT)
    with open(os.environ["CSP_BENCH_RESULT"], "w") as handle:
        json.dump(figures, handle)
    raise SystemExit(0)

state, out_path, control = bench.sandbox()
rng = random.Random(15)
admin = env(user=env.ref("base.user_admin"), context={})
connection = admin["csp.connection"].create(
    connection_values(
        state, name="Benchmark partner", log_retention_days=0,
        licence_import_type="subscriptions", licence_full_read_hours=0, billing_mode="lines",
    )
)  # fmt: skip
authorize(connection, state)
bench.consent_everywhere(connection, control)
tenants = connection.tenant_ids.filtered(
    lambda t: t.consent_state == "granted" and t.relationship in ("reseller", "both")
).sorted("id")[:CUSTOMERS]
(connection.tenant_ids - tenants).write({"do_not_import": True})
customers = bench.give_customers(admin, tenants)
print(f"Set-up: {len(tenants)} customers", flush=True)

# every customer gets SUBSCRIPTIONS billed subscriptions (catalogue offers, monthly and
# annual, started on various days); free ones (billing cycle 'none') come on top
now = dt.datetime.now(dt.UTC).replace(microsecond=0)
paid = [sku for sku in catalogue().values() if not sku.free]
client = connection._csp_partner_center(connection._csp_http())
sandbox_ids = {}  # the sandbox's own spelling of each subscription id (its control API's)
for tenant in tenants:
    listed = list(client.subscriptions(tenant.tenant_id))
    sandbox_ids.update((s["id"].lower(), s["id"]) for s in listed)
    billed = [s for s in listed if s["billingCycle"] != "none"]
    for _ in range(SUBSCRIPTIONS - len(billed)):
        sku, annual = rng.choice(paid), rng.random() < 0.3
        start = now - dt.timedelta(days=rng.randint(1, 300), hours=rng.randint(0, 23))
        created = control(
            "POST", f"tenants/{tenant.tenant_id}/subscriptions",
            {"offerId": sku.offer_id, "offerName": sku.product_name, "skuId": sku.sku_id,
             "quantity": rng.randint(2, 40), "billingCycle": "annual" if annual else "monthly",
             "termDuration": "P1Y" if annual or rng.random() < 0.5 else "P1M",
             "creationDate": start.isoformat(), "effectiveStartDate": start.isoformat()},
        )  # fmt: skip
        sandbox_ids[created["id"].lower()] = created["id"]

# accounting and each customer's monthly and yearly sale contract, from this month
Account = admin["account.account"]
income = Account.create({"name": "Microsoft CSP sales", "code": "706900", "account_type": "income"})
receivable = Account.create(
    {"name": "Microsoft CSP customers", "code": "411900", "account_type": "asset_receivable",
     "reconcile": True}
)  # fmt: skip
customers.write({"property_account_receivable_id": receivable.id})
journal = admin["account.journal"].create(
    {"name": "Microsoft CSP", "code": "MCSP", "type": "sale", "default_account_id": income.id}
)
month_start = fields.Date.context_today(admin["contract.contract"]).replace(day=1)
contracts = admin["contract.contract"].create(
    [
        {"name": f"Microsoft {rule} {customer.name}", "partner_id": customer.id,
         "contract_type": "sale", "recurring_rule_type": rule, "recurring_interval": 1,
         "date_start": month_start, "journal_id": journal.id}
        for customer in customers
        for rule in ("monthly", "yearly")
    ]
)  # fmt: skip
admin.cr.commit()

# the steps run the scheduled way: as the integrator cron's user
integrator = connection.with_user(env.ref("csp_connector.ir_cron_csp_integrator").user_id)


def billing_run(label):
    """The licences and billing steps (set-up, not measured): (run, seconds)."""
    started = time.perf_counter()
    run = integrator._csp_sync(trigger="cron", modules=["licences", "billing"])
    admin.cr.commit()
    if run.state != "done":
        print(f"Set-up: the {label} ended {run.state}: {run.message}", flush=True)
    return run, time.perf_counter() - started


first, first_seconds = billing_run("first run")

# the MSP's prices on the lines and Microsoft's cost on the subscriptions
list_prices = {sku.offer_id: sku.list_price_usd for sku in catalogue().values()}
subscriptions = admin["csp.subscription"].search([("contract_line_id", "!=", False)], order="id")
for subscription in subscriptions:
    monthly = list_prices.get(":".join((subscription.offer_id or "").split(":")[:2]), 10.0)
    cost = monthly * (12 if subscription.billing_cycle == "annual" else 1)
    subscription.cost_price = cost
    subscription.contract_line_id.price_unit = round(cost * MARGIN, 2)
admin.cr.commit()

# the contracts' first period invoiced today (OCA contract's cron, as its user): the
# changes below fall in an invoiced period, so each is billed on a one-shot line due
# with the next period's invoice
cron = env.ref("contract.contract_cron_for_invoice")
started = time.perf_counter()
env(user=cron.user_id, context={})["contract.contract"].cron_recurring_create_invoice()
admin.cr.commit()
first_invoicing_seconds = time.perf_counter() - started
today = fields.Date.context_today(admin["contract.contract"])
invoice_day = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)  # next month's 1st

# 5 % of them change quantity in Partner Center, mid-cycle; the next run bills them
changed = rng.sample(list(subscriptions), round(len(subscriptions) * CHANGING))
for subscription in changed:  # seats added, or removed (keeping at least one)
    quantity = max(1, subscription.quantity + rng.choice([-2, -1, 1, 2, 3, 5]))
    if quantity == subscription.quantity:
        quantity += 1
    control(
        "PATCH",
        f"tenants/{subscription.csp_tenant_id.tenant_id}/subscriptions/"
        f"{sandbox_ids[subscription.microsoft_id.lower()]}",
        {"quantity": quantity},
    )
second, second_seconds = billing_run("run after the changes")
adjustments = admin["csp.billing.adjustment"].search_count([])
recurring_lines = admin["contract.line"].search_count([("csp_subscription_id", "!=", False)])
bench.analyze(admin, ("contract_contract", "contract_line", "csp_billing_adjustment",
                      "csp_subscription", "res_partner", "product_product"))  # fmt: skip
print(
    f"Set-up: {len(subscriptions)} billed subscriptions on {recurring_lines} contract lines "
    f"(licences and billing steps {first_seconds:.0f} s, state {first.state}); "
    f"{len(changed)} changed, {adjustments} adjustments "
    f"(second run {second_seconds:.0f} s, state {second.state})",
    flush=True,
)

due = due_one_shots(admin, invoice_day)
print(
    f"Set-up: {len(due)} adjustment lines due on {invoice_day}, the measured runs' day", flush=True
)
runs = {"with": [], "without": []}
for number, variant in enumerate(["without", "with"] * bench.pairs(), 1):
    figures = bench.in_fresh_shell(
        env, "bench_billing.py",
        {"CSP_BENCH_BILLING_VARIANT": variant, "CSP_BENCH_INVOICE_DAY": str(invoice_day)},
    )  # fmt: skip
    runs[variant].append(figures)
    print(f"  run {number}, {variant} adjustments: {json.dumps(figures)}", flush=True)

ratio = bench.ratio_figures(
    [r["seconds"] for r in runs["without"]], [r["seconds"] for r in runs["with"]]
)
bench.print_ratio("with / without adjustments", ratio)
best = {variant: min(r["seconds"] for r in found) for variant, found in runs.items()}
mean = {variant: sum(r["seconds"] for r in found) / len(found) for variant, found in runs.items()}
with_run = min(runs["with"], key=lambda r: r["seconds"])
without_run = min(runs["without"], key=lambda r: r["seconds"])
result = {
    "customers": len(tenants),
    "contracts": len(contracts),
    "billed_subscriptions": len(subscriptions),
    "recurring_contract_lines": recurring_lines,
    "subscriptions_changed_mid_cycle": len(changed),
    "adjustments": adjustments,
    "setup_first_billing_run_seconds_untimed": round(first_seconds, 1),
    "setup_run_after_changes_seconds_untimed": round(second_seconds, 1),
    "setup_run_after_changes_state": second.state,
    "setup_first_invoicing_seconds_untimed": round(first_invoicing_seconds, 1),
    "invoice_day": str(invoice_day),
    "adjustment_lines_due": len(due),
    "method": (
        "OCA contract's cron_recurring_create_invoice (as its cron user, on the first day "
        "of next month, freezegun) over the same committed contracts (first period invoiced "
        f"today, then {CHANGING:.0%} of the subscriptions changed), each run in a fresh "
        "odoo shell process (warmed up by one "
        "contract's invoice, undone) and rolled back; 'without' deletes the one-shot "
        "adjustment lines in the same transaction before the timer starts; runs alternate "
        "without/with; median and spread of the pairs' ratios"
    ),
    "with_adjustments_seconds": best["with"],
    "without_adjustments_seconds": best["without"],
    "ratio_with_to_without": ratio["ratio_median"],
    "ratio_min": ratio["ratio_min"],
    "ratio_max": ratio["ratio_max"],
    "ratio_pairs": ratio,
    "ratio_of_mean_times": round(mean["with"] / max(mean["without"], 0.01), 3),
    "invoices": with_run["invoices"],
    "invoice_lines_with": with_run["invoice_lines"],
    "invoice_lines_without": without_run["invoice_lines"],
    "adjustment_lines_invoiced": with_run["adjustment_lines_invoiced"],
    "peak_rss_mb_setup": round(bench.peak_rss_mb(), 1),
    "peak_rss_mb_with": with_run["peak_rss_mb"],
    "peak_rss_mb_without": without_run["peak_rss_mb"],
    "runs": runs,
}
result["targets"] = {
    f"with adjustments <= {TARGET} x without (median of pairs)": ratio["_median"] <= TARGET,
    "adjustment lines due on the invoice day": len(due) > 0,
    "each due adjustment line invoiced once": all(
        r["adjustment_lines_invoiced_once"] == len(due) == r["adjustment_lines_due"]
        and r["adjustment_lines_invoiced"] == len(due)
        for r in runs["with"]
    ),
    "no adjustment line without them": all(
        r["adjustment_lines_invoiced"] == 0 for r in runs["without"]
    ),
    "same invoices with and without": len({r["invoices"] for f in runs.values() for r in f}) == 1,
    "invoices stay drafts": all(r["draft"] for found in runs.values() for r in found),
}
bench.write_result(result, out_path, hidden=("runs",))
