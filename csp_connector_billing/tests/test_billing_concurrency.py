# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing step and OCA contract's invoicing job in two real transactions (two
cursors on the test database, data committed and removed afterwards), in each order they
can meet: neither fails the other, no invoice is rolled back, and what one left for later
is done on its next turn.

Customer A's monthly contract gets the billing step's line; customer B's monthly contract
(a plain line) is due the same day and never touched by the billing step: its invoice must
survive whatever happens to A's.
"""

import contextlib
import datetime as dt
import logging
import uuid

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from odoo.addons.csp_connector.models.csp_guard import code_env

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestBillingAndInvoicingTogether(TransactionCase):
    def setUp(self):
        super().setUp()
        self.db = sql_db.db_connect(self.env.cr.dbname)
        self.today = fields.Date.today()
        with self.db.cursor() as cr:
            self.ids = self._create(self.env_of(cr))
            self.trigger_max = self._max_trigger(cr)
            cr.commit()  # pylint: disable=invalid-commit
        self.addCleanup(self._remove)

    # -- set-up and clean-up (committed data) ------------------------------------------

    def env_of(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})

    def _create(self, env):
        tag = uuid.uuid4().hex[:6].upper()
        Account = env["account.account"]
        income = Account.create({"name": "Sales", "code": f"7{tag}", "account_type": "income"})
        receivable = Account.create(
            {"name": "Customers", "code": f"4{tag}", "account_type": "asset_receivable",
             "reconcile": True}
        )  # fmt: skip
        journal = env["account.journal"].create(
            {"name": f"Sales {tag}", "code": tag[:5], "type": "sale",
             "default_account_id": income.id}
        )  # fmt: skip
        a, b = env["res.partner"].create([
            {"name": f"Customer A {tag}", "is_company": True,
             "property_account_receivable_id": receivable.id},
            {"name": f"Customer B {tag}", "is_company": True,
             "property_account_receivable_id": receivable.id},
        ])  # fmt: skip
        product = env["product.product"].create(
            {"name": f"Plan {tag}", "default_code": f"OFFER-{tag}", "type": "service",
             "list_price": 10.0}
        )  # fmt: skip
        connection = env["csp.connection"].create(
            {"name": f"Concurrency {tag}", "partner_tenant_id": f"p-{tag}",
             "billing_mode": "lines"}
        )  # fmt: skip
        tenant = env["csp.tenant"].create(
            {"connection_id": connection.id, "tenant_id": f"t-{tag}", "name": f"Tenant {tag}",
             "partner_id": a.id}
        )  # fmt: skip
        subscription = env["csp.subscription"].create({
            "connection_id": connection.id, "csp_tenant_id": tenant.id,
            "microsoft_id": f"sub-{tag}".lower(), "offer_id": f"OFFER-{tag}",
            "friendly_name": f"Plan {tag}", "quantity": 3, "status": "active",
            "billing_cycle": "monthly", "start_date": dt.datetime(2025, 1, 10),
            "creation_date": dt.datetime(2025, 1, 10),
        })  # fmt: skip
        month = self.today.replace(day=1)
        contracts = env["contract.contract"].create([
            {"name": f"A monthly {tag}", "partner_id": a.id, "contract_type": "sale",
             "recurring_rule_type": "monthly", "recurring_interval": 1, "date_start": month,
             "journal_id": journal.id},
            {"name": f"B monthly {tag}", "partner_id": b.id, "contract_type": "sale",
             "recurring_rule_type": "monthly", "recurring_interval": 1, "date_start": month,
             "journal_id": journal.id,
             "contract_line_ids": [(0, 0, {"product_id": product.id, "name": "Support",
                                           "quantity": 1, "price_unit": 50.0,
                                           "uom_id": env.ref("uom.product_uom_unit").id})]},
        ])  # fmt: skip
        # the billing step's first run: the subscription's line on A's contract
        counters = self.billing_step(env, tenant.id)
        assert counters["created"] == 1, counters
        return {
            "accounts": (income | receivable).ids, "journal": journal.id, "partners": [a.id, b.id],
            "product": product.id, "connection": connection.id, "tenant": tenant.id,
            "subscription": subscription.id, "a": contracts[0].id, "b": contracts[1].id,
        }  # fmt: skip

    def _max_trigger(self, cr):
        cr.execute("SELECT COALESCE(MAX(id), 0) FROM ir_cron_trigger")
        return cr.fetchone()[0]

    def _remove(self):
        ids = self.ids
        with self.db.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"active_test": False})
            contracts = env["contract.contract"].browse([ids["a"], ids["b"]])
            steps = [
                env["account.move"].search([("journal_id", "=", ids["journal"])]),
                contracts,
                env["csp.connection"].browse(ids["connection"]),
                env["product.product"].browse(ids["product"]),
                env["res.partner"].browse(ids["partners"]),
                env["account.journal"].browse(ids["journal"]),
                env["account.account"].browse(ids["accounts"]),
            ]
            for records in steps:
                try:
                    with cr.savepoint():
                        records.unlink()
                except Exception:  # left behind, said so: it must not hide the test's outcome
                    _logger.warning("could not remove %s", records, exc_info=True)
            cr.execute("DELETE FROM ir_cron_trigger WHERE id > %s", [self.trigger_max])
            cr.commit()  # pylint: disable=invalid-commit

    # -- the two sides ----------------------------------------------------------------------

    def billing_step(self, env, tenant_id=None):
        """The scheduled billing step for the tenant, as the integrator (as the run calls it)."""
        integrator = env.ref("csp_connector.user_csp_integrator")
        tenant = env["csp.tenant"].browse(tenant_id or self.ids["tenant"])
        counters = code_env(tenant.with_user(integrator))._csp_sync_billing(None)
        env.flush_all()
        return counters

    def set_quantity(self, env, quantity):
        """The licences sync saw a new quantity (code: superuser)."""
        env["csp.subscription"].browse(self.ids["subscription"]).quantity = quantity

    def invoicing_job(self, env):
        """OCA contract's scheduled invoicing, for today."""
        env["contract.contract"]._cron_recurring_create(date_ref=self.today)
        env.flush_all()

    @contextlib.contextmanager
    def fresh(self):
        with self.db.cursor() as cr:
            yield self.env_of(cr)

    def invoices(self, env, key):
        return env["account.move"].search(
            [("invoice_line_ids.contract_line_id.contract_id", "=", self.ids[key])]
        )

    def line(self, env):
        return env["contract.line"].search([("csp_subscription_id", "=", self.ids["subscription"])])

    def assert_retry_planned(self, env):
        cron = env.ref("contract.contract_cron_for_invoice")
        triggers = env["ir.cron.trigger"].search(
            [("cron_id", "=", cron.id), ("id", ">", self.trigger_max)]
        )
        self.assertTrue(triggers, "the invoicing job wakes again for the contract it left")

    # -- the orders they meet in -------------------------------------------------------------

    def test_the_billing_step_commits_while_the_invoicing_job_runs(self):
        with self.db.cursor() as inv_cr, self.db.cursor() as bill_cr:
            invoicing = self.env_of(inv_cr)
            # the invoicing job's transaction has begun (it sees the contracts due)...
            self.assertEqual(invoicing["contract.contract"].search_count(
                [("id", "in", [self.ids["a"], self.ids["b"]]),
                 ("recurring_next_date", "<=", self.today)]), 2)  # fmt: skip
            # ... when the billing step updates A's line and commits
            billing = self.env_of(bill_cr)
            self.set_quantity(billing, 5)
            self.assertEqual(self.billing_step(billing)["updated"], 1)
            bill_cr.commit()
            with mute_logger("odoo.sql_db"):
                self.invoicing_job(invoicing)  # A's line changed under it: left for later
            inv_cr.commit()
        with self.fresh() as env:
            self.assertEqual(len(self.invoices(env, "b")), 1, "B's invoice is kept")
            self.assertFalse(self.invoices(env, "a"), "A is left for the job's next wake-up")
            self.assert_retry_planned(env)
            self.invoicing_job(env)  # the next wake-up
            env.cr.commit()
            invoice = self.invoices(env, "a")
            self.assertEqual(invoice.invoice_line_ids.quantity, 5)  # the billed quantity
            self.assertEqual(len(self.invoices(env, "b")), 1)  # not twice

    def test_the_invoicing_job_commits_while_the_billing_step_runs(self):
        with self.db.cursor() as bill_cr:
            billing = self.env_of(bill_cr)
            # the billing step's transaction has begun...
            self.assertEqual(self.line(billing).quantity, 3)
            # ... when the invoicing job invoices both contracts and commits
            with self.fresh() as invoicing:
                self.invoicing_job(invoicing)
                invoicing.cr.commit()
            self.set_quantity(billing, 5)
            counters = self.billing_step(billing)  # A was invoiced meanwhile: it waits
            bill_cr.commit()
        self.assertEqual((counters["updated"], counters["skipped"]), (0, 1))
        self.assertIn("wait for the next run", counters["message"])
        with self.fresh() as env:
            self.assertEqual(len(self.invoices(env, "a")), 1)
            self.assertEqual(len(self.invoices(env, "b")), 1)
            self.assertEqual(self.line(env).quantity, 3)
            self.assertEqual(self.billing_step(env)["updated"], 1)  # the next run
            env.cr.commit()
            self.assertEqual(self.line(env).quantity, 5)

    def test_the_invoicing_job_runs_while_the_billing_step_holds_the_contract(self):
        with self.db.cursor() as bill_cr, self.db.cursor() as inv_cr:
            billing = self.env_of(bill_cr)
            self.set_quantity(billing, 5)
            self.assertEqual(self.billing_step(billing)["updated"], 1)  # not committed yet
            invoicing = self.env_of(inv_cr)
            # without the turn-taking the job would wait for the step's lock: not forever
            inv_cr.execute("SET LOCAL lock_timeout = '3s'")
            with mute_logger("odoo.sql_db"):
                self.invoicing_job(invoicing)
            inv_cr.commit()
            bill_cr.commit()
        with self.fresh() as env:
            self.assertEqual(len(self.invoices(env, "b")), 1, "B's invoice is kept")
            self.assertFalse(self.invoices(env, "a"))
            self.assert_retry_planned(env)
            self.invoicing_job(env)
            env.cr.commit()
            self.assertEqual(self.invoices(env, "a").invoice_line_ids.quantity, 5)
