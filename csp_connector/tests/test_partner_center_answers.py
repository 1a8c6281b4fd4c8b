# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center's answers as the sync and the buttons meet them, against the sandbox's
bad pages and answer shapes: a list not proven complete marks no subscription removed,
archives or downgrades no tenant and leaves its run line not "done", and the next clean
run repairs; a quantity change answered 200 in PascalCase or 202 leaves Odoo matching
Microsoft; a date Partner Center sends that cannot be read is explained, never emptied."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..models.csp_guard import code_env
from .common import CspSandboxCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller, consent, subscriptions
ANNUAL = "d8f33418-f3d4-4711-9804-f92283868a29"  # 1 seat, no window
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # 2 seats, every window closed
REFUNDABLE = "3328ad08-8ded-4c96-91eb-79fa5d5f576c"  # 3 seats inside their 168 h window
# (kind, page it hits): every bad page Partner Center could send, on the first and a later page
BAD_PAGES = (
    ("empty", 1), ("empty_object", 1), ("no_value", 1), ("emptied", 1),
    ("emptied_uncounted", 1), ("cut", 1), ("no_next", 1), ("empty", 2), ("emptied", 2),
    ("emptied_uncounted", 2), ("cut", 2), ("no_value", 2),
)  # fmt: skip
INCOMPLETE = "Partner Center's list came back incomplete"


def notes(record):
    """The record's chatter, newest first (tracking messages have no body)."""
    return "\n".join(record.message_ids.filtered("body").mapped("body"))


class PartnerCenterCase(CspSandboxCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # pages of 2, so that a bad page can be a later one
        cls.env["ir.config_parameter"].sudo().set_param("csp_connector.page_size", "2")

    def setUp(self):
        super().setUp()
        self.addCleanup(self.sandbox.control, "DELETE", "faults")

    def step_line(self, run, step, tenant=None):
        return run.line_ids.filtered(
            lambda line: line.step == step and line.csp_tenant_id == (tenant or line.csp_tenant_id)
            and (tenant is not None or not line.csp_tenant_id)
        )  # fmt: skip

    def assert_explained(self, line):
        self.assertEqual(line.state, "error")
        for words in (INCOMPLETE, "Likely cause:", "How to fix it:", "no subscription was "
                      "marked removed and no tenant archived", "Page "):  # fmt: skip
            self.assertIn(words, line.message)


@tagged("post_install", "-at_install")
class TestDiscoveryProof(PartnerCenterCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connect_as_admin()

    def tenants(self):
        found = self.connection.with_context(active_test=False).tenant_ids
        return {t.tenant_id: (t.active, t.relationship) for t in found}

    def test_a_bad_customer_page_archives_and_downgrades_no_tenant(self):
        truth = {t["id"]: t for t in self.sandbox.tenants() if t["reseller"] or t["gdap"]}
        before = self.tenants()
        self.assertEqual(set(before), set(truth))
        both = [tid for tid, (active, kind) in before.items() if active and kind == "both"]
        self.assertGreaterEqual(len(both), 3)
        # one reseller relationship really ends: only a whole read may say so
        self.sandbox.control("PATCH", f"tenants/{both[0]}", {"reseller": False})
        for kind, page in BAD_PAGES:
            with self.subTest(kind=kind, page=page):
                self.sandbox.fault(service="partnercenter", path="/v1/customers", method="GET",
                                   body=kind, after=page - 1, times=1)  # fmt: skip
                run = self.discover()
                self.assertEqual(self.tenants(), before, "no tenant archived or downgraded")
                self.assertNotEqual(run.state, "done")
                line = self.step_line(run, "tenants")
                self.assert_explained(line)
                self.assertIn(f"Page {page} of", line.message)
                self.assertIn(INCOMPLETE, self.connection.last_error)
        # the next clean run reads the whole list: tenants as Microsoft has them
        run = self.discover()
        self.assertEqual(self.step_line(run, "tenants").state, "done")
        self.assertEqual(self.tenants(), {**before, both[0]: (True, "gdap")})


@tagged("post_install", "-at_install")
class TestSubscriptionsProof(PartnerCenterCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.connection.licence_import_type = "subscriptions"
        cls.connection.licence_full_read_hours = 0  # every run reads the whole list

    def subscriptions(self):
        """The tenant's subscriptions, those marked removed (archived) too."""
        self.tenant.invalidate_recordset(["subscription_ids"])
        return self.tenant.with_context(active_test=False).subscription_ids

    def subscription(self, microsoft_id):
        return self.subscriptions().filtered(lambda s: s.microsoft_id == microsoft_id)

    def sync(self):
        return self.connection._csp_sync(trigger="manual", modules=["licences"])

    def test_a_bad_subscription_page_marks_nothing_removed_and_the_next_run_repairs(self):
        run = self.sync()
        self.assertEqual(run.state, "done", run.message)
        listed = self.subscriptions()
        self.assertGreaterEqual(len(listed), 5)
        self.assertFalse(listed.filtered("removed"))
        # one subscription really goes: only a whole read may say so
        added = self.sandbox.control(
            "POST", f"tenants/{ASHFORD}/subscriptions",
            {"offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DJ",
             "skuId": "3b555118-da6a-4418-894f-7df1e2096870", "quantity": 4},
        )  # fmt: skip
        self.assertEqual(self.sync().state, "done")
        gone = self.subscription(added["id"].lower())
        self.sandbox.control("DELETE", f"tenants/{ASHFORD}/subscriptions/{added['id']}")
        for kind, page in BAD_PAGES:
            with self.subTest(kind=kind, page=page):
                self.sandbox.fault(service="partnercenter", method="GET", body=kind,
                                   path=f"customers/{ASHFORD}/subscriptions",
                                   after=page - 1, times=1)  # fmt: skip
                run = self.sync()
                self.assertFalse(self.subscriptions().filtered("removed"), "nothing removed")
                self.assertEqual(run.state, "partial")
                self.assert_explained(self.step_line(run, "licences", self.tenant))
                self.assertIn(INCOMPLETE, self.tenant.last_error)
                self.assertEqual(self.tenant.last_error_step, "licences")
        run = self.sync()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.subscriptions().filtered("removed"), gone, "only the one gone")
        self.assertFalse(self.tenant.last_error)

    def test_a_bad_page_of_audit_records_keeps_their_position(self):
        self.connection.licence_full_read_hours = 24
        self.addCleanup(setattr, self.connection, "licence_full_read_hours", 0)
        self.sync()  # first run: full read, audit position set
        self.sync()
        since = self.connection.licence_audit_since
        self.assertTrue(since)
        for kind in ("empty", "empty_object", "no_value", "emptied_uncounted"):
            with self.subTest(kind=kind):
                self.sandbox.fault(service="partnercenter", path="/v1/auditrecords", body=kind,
                                   times=1)  # fmt: skip
                run = self.sync()
                self.assertNotEqual(run.state, "done")
                self.assert_explained(self.step_line(run, "licences"))
                self.assertEqual(self.connection.licence_audit_since, since, "read again next")

    # -- quantity changes -------------------------------------------------------------------

    def adjustable(self, microsoft_id):
        self.connection.adjust_quantities = True
        self.sync()
        return self.subscription(microsoft_id).with_user(self.manager)

    def partner_center_quantity(self, microsoft_id):
        client = self.connection._csp_partner_center(self.connection._csp_http())
        return client.subscription(ASHFORD, microsoft_id)["quantity"]

    def patch_answer(self, body):
        self.sandbox.fault(service="partnercenter", method="PATCH", body=body, times=1)

    def test_a_200_answer_in_pascal_case_is_applied(self):
        sub = self.adjustable(ANNUAL)
        start = sub.quantity
        self.patch_answer("pascal")
        wizard = (
            self.env["csp.subscription.quantity"]
            .with_user(self.manager)
            .create({"subscription_id": sub.id, "new_quantity": start + 2})
        )
        wizard.action_apply()
        self.assertEqual(sub.quantity, start + 2)
        self.assertEqual(sub.quantity, self.partner_center_quantity(ANNUAL))
        self.assertEqual(sub.refundable_quantity, 2, "the added seats' window, read as sent")
        self.assertFalse(sub.pending_quantity)
        self.assertIn(f"from {start} to {start + 2}", notes(sub))

    def test_a_202_answer_shows_the_change_pending_until_a_read_confirms_it(self):
        for body, microsoft_id in (("accepted", PLAIN), ("accepted_empty", REFUNDABLE)):
            with self.subTest(body=body):
                sub = self.adjustable(microsoft_id)
                start = sub.quantity
                self.patch_answer(body)
                sub._csp_set_quantity(start + 1)
                self.assertEqual(sub.quantity, start, "what Partner Center showed last")
                self.assertEqual(sub.pending_quantity, start + 1)
                self.assertIn("is still applying it", notes(sub))
                self.assertNotIn(f"from {start} to {start}", notes(sub))
                self.assertIn(microsoft_id, self.tenant.licence_pending)
                self.connection.licence_full_read_hours = 24  # the noted one alone is read
                run = self.sync()
                self.connection.licence_full_read_hours = 0
                self.assertEqual(run.state, "done", run.message)
                self.assertEqual(sub.quantity, start + 1)
                self.assertEqual(sub.quantity, self.partner_center_quantity(microsoft_id))
                self.assertFalse(sub.pending_quantity)
                self.assertIn("confirmed the change", notes(sub))

    def test_a_pending_change_partner_center_never_applied_is_dropped_after_a_day(self):
        sub = self.adjustable(ANNUAL)
        start = sub.quantity
        self.patch_answer("accepted")
        sub._csp_set_quantity(start + 1)
        # Partner Center did not apply it after all
        self.sandbox.control("PATCH", f"tenants/{ASHFORD}/subscriptions/{ANNUAL}",
                             {"quantity": start})  # fmt: skip
        self.sync()
        self.assertEqual(sub.pending_quantity, start + 1, "a day to confirm it")
        code_env(sub).write({"pending_since": fields.Datetime.now() - timedelta(hours=25)})
        self.sync()
        self.assertEqual((sub.quantity, sub.pending_quantity), (start, 0))
        self.assertIn("the change did not happen", notes(sub))

    # -- dates --------------------------------------------------------------------------------

    def test_an_unreadable_date_is_explained_and_the_old_value_kept(self):
        self.sync()
        sub = self.subscription(ANNUAL)
        kept = sub.commitment_end_date
        self.assertTrue(kept)
        path = f"tenants/{ASHFORD}/subscriptions/{ANNUAL}"
        self.sandbox.control("PATCH", path, {"commitmentEndDate": "<b>31/12/2027</b>"})
        run = self.sync()
        self.assertEqual(sub.commitment_end_date, kept, "never emptied")
        self.assertIn("commitmentEndDate", sub.date_problem)
        note = notes(sub)
        self.assertIn("cannot read", note)
        self.assertIn("&lt;b&gt;31/12/2027&lt;/b&gt;", note, "Microsoft's text escaped")
        line = self.step_line(run, "licences", self.tenant)
        self.assertEqual(line.error_count, 1)
        self.assertIn("the previous values were kept", line.message)
        self.assertIn(sub.friendly_name, line.message)
        said = len(sub.message_ids)
        self.sync()
        self.assertEqual(len(sub.message_ids), said, "said once")
        self.sandbox.control("PATCH", path, {"commitmentEndDate": "2028-01-31T00:00:00Z"})
        self.sync()
        self.assertEqual(str(sub.commitment_end_date), "2028-01-31 00:00:00")
        self.assertFalse(sub.date_problem)
