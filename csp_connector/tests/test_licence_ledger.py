# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The subscription change ledger against the sandbox: the first read opens each
subscription's history; a webhook event, the audit record and the next full read of one
change make one row; two changes between two syncs are two rows at their audit records'
times; a change made from Odoo names its user; nobody writes the history by hand (over
RPC, as a CSP manager) and another company sees none of it."""

import json
import time
from datetime import UTC, datetime

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from sandbox_connection import webhook_trust_values

from ..sync import subscriptions as quantity_rules
from .common import CspSandboxHttpCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # monthly, started on the 14th, 2 seats
ANNUAL = "d8f33418-f3d4-4711-9804-f92283868a29"  # annual, 1 seat
ACCESS_ERROR = "odoo.exceptions.AccessError"


def naive(stamp):
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26].rstrip("+"))
    return moment.replace(tzinfo=None, microsecond=0)


@tagged("post_install", "-at_install")
class TestLicenceLedger(CspSandboxHttpCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_subscriptions_tenant(ASHFORD)
        cls.connection.licence_full_read_hours = 0  # every run reads them all

    def setUp(self):
        super().setUp()
        self.sync()

    def sync(self):
        run = self.connection._csp_sync(trigger="manual", modules=["licences"])
        self.assertEqual(run.state, "done", run.message)

    def sub(self, microsoft_id=PLAIN):
        return self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "=", microsoft_id)]
        )

    def rows(self, microsoft_id=PLAIN):
        return self.sub(microsoft_id).change_ids.sorted(lambda r: (r.changed_at, r.id))

    def client(self):
        return self.connection._csp_partner_center(self.connection._csp_http())

    def patch(self, quantity, microsoft_id=PLAIN):
        """A seat change through Partner Center's API: Partner Center writes its audit
        record (and sends the webhook event, when one is registered)."""
        time.sleep(1)  # Odoo keeps times to the second: each change a second of its own
        client = self.client()
        current = client.subscription(ASHFORD, microsoft_id)
        client.patch_subscription(
            ASHFORD, microsoft_id, quantity_rules.patch_body(current, quantity)
        )
        return current["quantity"]

    def audit_times(self, microsoft_id, since):
        records = self.client().audit_records(since)
        return [naive(r["operationDate"]) for r in records
                if json.loads(r["resourceNewValue"]).get("id") == microsoft_id]  # fmt: skip

    # -- the history's opening and its reads ---------------------------------------------

    def test_each_subscription_has_an_opening_row_and_a_read_without_change_adds_none(self):
        subscriptions = self.tenant.subscription_ids
        self.assertTrue(subscriptions)
        for subscription in subscriptions:
            (opening,) = subscription.change_ids
            self.assertIn(opening.kind, ("purchase", "first_seen"))
            self.assertEqual(
                (opening.new_quantity, opening.new_status, opening.source),
                (subscription.quantity, subscription.status, "read"),
            )
        count = len(subscriptions.change_ids)
        self.sync()
        self.assertEqual(len(subscriptions.change_ids), count)

    def test_two_changes_between_two_syncs_are_two_rows_at_their_audit_times(self):
        started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        before = self.patch(5)
        self.patch(7)
        self.sync()
        opening, first, second = self.rows()
        self.assertEqual(
            [(r.kind, r.old_quantity, r.new_quantity, r.source) for r in (first, second)],
            [("quantity", before, 5, "audit_record"), ("quantity", 5, 7, "audit_record")],
        )
        self.assertEqual([first.changed_at, second.changed_at],
                         self.audit_times(PLAIN, started)[-2:])  # fmt: skip
        self.assertTrue(first.audit_ref and second.audit_ref)
        self.assertNotEqual(first.audit_ref, second.audit_ref)
        self.assertEqual(opening.kind, "first_seen")
        self.sync()  # the audit records read again (the overlap), a full read: nothing new
        self.assertEqual(len(self.rows()), 3)

    def test_a_change_made_from_odoo_names_its_user_then_takes_its_audit_record(self):
        self.connection.adjust_quantities = True
        subscription = self.sub(ANNUAL).with_user(self.manager)
        before = subscription.quantity
        subscription._csp_set_quantity(before + 1)
        change = self.rows(ANNUAL)[-1]
        self.assertEqual(
            (change.kind, change.old_quantity, change.new_quantity, change.source,
             change.user_id),
            ("quantity", before, before + 1, "action", self.manager),
        )  # fmt: skip
        self.sync()  # the audit record of that change dates it; still one row
        self.assertEqual(self.rows(ANNUAL)[-1], change)
        self.assertEqual(len(self.rows(ANNUAL)), 2)
        self.assertEqual((change.source, change.user_id), ("audit_record", self.manager))
        self.assertTrue(change.audit_ref)

    # -- webhook, audit record and read: one row ------------------------------------------

    def test_a_webhook_the_audit_record_and_the_next_read_make_one_row(self):
        started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        before = self.patch(6)  # its audit record; no webhook registered yet
        # Partner Center's event of that change, delivered now (signed by the sandbox)
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.connection.write(webhook_trust_values(self.sandbox.info))
        self.env.flush_all()  # what the request handling Partner Center's POST reads
        self.connection.action_webhook_register()
        self.addCleanup(self.connection.action_webhook_unregister)
        result = self.sandbox.control(
            "POST", "webhooks/send",
            {"EventName": "subscription-updated", "customerId": ASHFORD, "subscriptionId": PLAIN},
        )  # fmt: skip
        self.assertEqual((result["delivered"], result["status"]), (True, 200))
        event = self.env["csp.webhook.event"].search([("connection_id", "=", self.connection.id)])
        self.env["csp.webhook.event"]._cron_apply_webhook_events()
        self.assertEqual(event.state, "done", event.message)
        change = self.rows()[-1]
        self.assertEqual(
            (change.kind, change.old_quantity, change.new_quantity, change.source,
             change.webhook_event_id),
            ("quantity", before, 6, "webhook", event),
        )  # fmt: skip
        self.assertEqual(change.changed_at, event.changed_at)
        self.sync()  # the audit step (its record), then the full read
        self.assertEqual(self.rows()[-1], change)
        self.assertEqual(len(self.rows()), 2, "one row for the change")
        self.assertEqual(change.source, "audit_record")
        self.assertEqual(change.changed_at, self.audit_times(PLAIN, started)[-1])
        self.assertTrue(change.audit_ref)
        self.assertEqual(change.webhook_event_id, event, "the event is still named")

    # -- nobody writes it; another company does not see it ---------------------------------

    def rpc(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def test_a_manager_cannot_create_change_or_delete_the_history_over_rpc(self):
        change = self.rows()[0]
        self.authenticate("csp_mgr", "csp_mgr")
        self.assertEqual(
            self.rpc("csp.subscription.change", "read", [change.id], ["new_quantity"])[0][
                "new_quantity"
            ],
            change.new_quantity,
        )
        attempts = [
            ("create", [{"subscription_id": change.subscription_id.id, "kind": "quantity",
                         "changed_at": "2026-01-01 00:00:00", "source": "read", "key": "x",
                         "new_quantity": 99}]),
            ("write", [change.id], {"new_quantity": 99}),
            ("unlink", [change.id]),
        ]  # fmt: skip
        for method, *args in attempts:
            with self.subTest(method), self.assertRaises(JsonRpcException) as caught:
                self.rpc("csp.subscription.change", method, *args)
            self.assertEqual(caught.exception.args[0], ACCESS_ERROR)
        # refused by the model itself, before its access rights are even looked at
        as_manager = change.with_user(self.manager)
        refusals = {
            "create": lambda: as_manager.create(attempts[0][1][0]),
            "write": lambda: as_manager.write({"new_quantity": 99}),
            "unlink": as_manager.unlink,
        }
        for method, call in refusals.items():
            refused = self.assertRaisesRegex(AccessError, "kept by the Microsoft CSP connector")
            with self.subTest(f"{method} in Python"), refused:
                call()
        self.assertEqual(change.new_quantity, self.rows()[0].new_quantity)
        self.assertTrue(change.exists())

    def test_another_company_sees_none_of_the_history(self):
        other = self.env["res.company"].create({"name": "Other MSP"})
        stranger = new_test_user(
            self.env, login="csp_other", groups="csp_connector.group_csp_manager",
            company_id=other.id, company_ids=[(6, 0, other.ids)],
        )  # fmt: skip
        Change = self.env["csp.subscription.change"]
        mine = Change.search([("connection_id", "=", self.connection.id)])
        self.assertTrue(mine)
        self.assertFalse(Change.with_user(stranger).search([]))
        self.assertTrue(Change.with_user(self.manager).search([]))
