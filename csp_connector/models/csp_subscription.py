# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center subscriptions of a customer, and changing their quantity."""

from datetime import UTC, datetime

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..microsoft import errors
from ..microsoft.dates import parse_datetime
from ..sync import licences as licence_rules
from ..sync import subscriptions as quantity_rules
from .csp_guard import code_env

SUBSCRIPTION_CODE_FIELDS = (
    "connection_id", "csp_tenant_id", "microsoft_id", "removed", "removed_date",
    "fingerprint", "offer_id", "offer_name", "friendly_name", "quantity", "status",
    "billing_cycle", "term_duration", "unit_type", "promotion_id", "creation_date",
    "start_date", "commitment_end_date", "auto_renew", "product_type",
    "next_term_instructions", "refundable_details", "subscribed_sku_id", "changed_at",
)  # fmt: skip


class CspSubscription(models.Model):
    _name = "csp.subscription"
    _inherit = ["csp.binding.mixin", "csp.code.guard", "csp.licence.record", "mail.thread"]
    _description = "Microsoft Subscription"
    _order = "partner_id, friendly_name"
    _rec_name = "friendly_name"
    _csp_code_fields = SUBSCRIPTION_CODE_FIELDS

    partner_id = fields.Many2one(
        "res.partner", string="Customer", related="csp_tenant_id.partner_id", store=True,
        index=True,
    )  # fmt: skip
    offer_id = fields.Char(string="Offer Id", readonly=True)
    offer_name = fields.Char(readonly=True)
    friendly_name = fields.Char(string="Name", readonly=True)
    quantity = fields.Integer(readonly=True, tracking=True)
    status = fields.Selection(
        [
            ("active", "Active"),
            ("suspended", "Suspended"),
            ("deleted", "Deleted"),
            ("expired", "Expired"),
            ("pending", "Pending"),
            ("disabled", "Disabled"),
            ("other", "Other"),
        ],
        readonly=True,
        tracking=True,
    )
    billing_cycle = fields.Char(readonly=True)
    term_duration = fields.Char(readonly=True, help="ISO 8601 duration, e.g. P1Y or P1M.")
    unit_type = fields.Char(readonly=True)
    promotion_id = fields.Char(string="Promotion Id", readonly=True)
    product_type = fields.Char(readonly=True)
    creation_date = fields.Datetime(readonly=True)
    start_date = fields.Datetime(string="Effective Start", readonly=True)
    commitment_end_date = fields.Datetime(string="Commitment End", readonly=True)
    auto_renew = fields.Boolean(readonly=True, tracking=True)
    changed_at = fields.Datetime(
        string="Changed in Partner Center", readonly=True, tracking=True,
        help="When Partner Center's audit record dates this subscription's last change; "
        "kept with the change in the history below (empty: no audit record read yet).",
    )  # fmt: skip
    next_term_instructions = fields.Text(
        string="Scheduled Next Term", readonly=True,
        help="Changes Partner Center will apply at renewal (JSON as Microsoft sent it).",
    )  # fmt: skip
    refundable_details = fields.Text(
        string="Refund Windows", readonly=True,
        help="Each batch of added seats and until when it may still be removed (JSON).",
    )  # fmt: skip
    refundable_quantity = fields.Integer(
        string="Removable Now", compute="_compute_refundable",
        help="Seats that may still be removed: added less than 7 days ago.",
    )  # fmt: skip
    refundable_until = fields.Datetime(string="Removable Until", compute="_compute_refundable")
    subscribed_sku_id = fields.Many2one(
        "csp.subscribed.sku", string="Licence", readonly=True, ondelete="set null", index=True,
        help="The subscribed SKU Microsoft says this subscription provides.",
    )  # fmt: skip
    can_adjust = fields.Boolean(related="connection_id.adjust_quantities")
    note = fields.Text(help="Your own notes; the sync never changes them.")

    @api.depends("refundable_details")
    def _compute_refundable(self):
        now = datetime.now(UTC)
        for record in self:
            windows = [
                w
                for w in quantity_rules.windows_from(record.refundable_details or "[]")
                if w.until > now
            ]
            record.refundable_quantity = sum(w.quantity for w in windows)
            last = max((w.until for w in windows), default=None)
            record.refundable_until = last.replace(tzinfo=None) if last else False

    # -- import --------------------------------------------------------------------------

    @api.model
    def _csp_import_subscriptions(self, tenant, items, complete):
        """Bind subscriptions read from Partner Center. ``complete``: the read listed all
        of the customer's subscriptions, so the missing ones are marked removed."""
        from .importer import BindingImporter, Planned  # noqa: PLC0415 - core module

        importer = BindingImporter(code_env(self), tenant)
        plans, refused = [], []
        for item in items:
            try:
                values = licence_rules.plan_subscription(item)
            except licence_rules.BadRecord as exc:
                refused.append(str(exc))
                continue
            plans.append(Planned(values.pop("microsoft_id"), values))
        importer.apply(plans)
        importer.archive_missing(complete=complete and not refused)
        counters = dict(importer.counters)
        if refused:
            counters["errors"] = len(refused)
            counters["message"] = "; ".join(refused[:5])
        return counters

    @api.model
    def _csp_date_changes(self, tenant, times):
        """Keep the audit-record time of each change just read (``times``: {subscription
        id: ISO time}); written with the change, so the history shows them together."""
        subscriptions = self.search(
            [("csp_tenant_id", "=", tenant.id), ("microsoft_id", "in", list(times))]
        )
        for subscription in subscriptions:
            when = parse_datetime(times[subscription.microsoft_id])
            when = when and when.astimezone(UTC).replace(tzinfo=None)
            if when and subscription.changed_at != when:
                code_env(subscription).write({"changed_at": when})

    @api.model
    def _csp_link_skus(self, tenant):
        """Link each subscription to the subscribed SKU that lists it."""
        skus = self.env["csp.subscribed.sku"].search(
            [("csp_tenant_id", "=", tenant.id), ("subscription_refs", "!=", False)]
        )
        by_subscription = {ref: sku for sku in skus for ref in sku.subscription_refs.split()}
        for subscription in self.search([("csp_tenant_id", "=", tenant.id)]):
            sku = by_subscription.get(subscription.microsoft_id, self.env["csp.subscribed.sku"])
            if subscription.subscribed_sku_id != sku:
                code_env(subscription).write({"subscribed_sku_id": sku.id})

    # -- adjusting the quantity ------------------------------------------------------------

    def action_adjust_quantity(self):
        self.ensure_one()
        self._csp_check_adjust()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Adjust quantity"),
            "res_model": "csp.subscription.quantity",
            "view_mode": "form",
            "target": "new",
            "context": {"default_subscription_id": self.id, "default_new_quantity": self.quantity},
        }

    def _csp_check_adjust(self):
        self._csp_check_change(
            "adjust_quantities",
            self.env._("Adjusting quantities from Odoo is off for the connection %s (it is "
                       "for direct resellers): turn on 'Adjust quantities' on its Licences tab."),
            self.env._("This subscription is no longer in Partner Center."),
        )  # fmt: skip

    def _csp_set_quantity(self, new_quantity):
        """Send `new_quantity` to Partner Center; Odoo shows it once Partner Center
        accepted it. Refused here, before any call, when the rules forbid it."""
        self.ensure_one()
        self._csp_check_adjust()
        now = datetime.now(UTC)
        old = self.quantity
        decision = quantity_rules.check_quantity_change(
            old, new_quantity, quantity_rules.windows_from(self.refundable_details),
            now, status=self.status,
        )  # fmt: skip
        if not decision.allowed:
            raise UserError(decision.reason)
        connection, customer = self.connection_id, self.csp_tenant_id.tenant_id
        recorder = self.env["csp.request.log"]._csp_recorder(connection, immediate=True)
        try:
            client = connection._csp_partner_center(connection._csp_http(recorder))
            current = client.subscription(customer, self.microsoft_id)
            # what Partner Center says now (another change may have come in between)
            fresh = licence_rules.plan_subscription(current)
            decision = quantity_rules.check_quantity_change(
                fresh.get("quantity", old), new_quantity,
                quantity_rules.windows_from(fresh.get("refundable_details") or "[]"),
                now, status=fresh.get("status", self.status),
            )  # fmt: skip
            if not decision.allowed:
                raise UserError(decision.reason)
            answer = client.patch_subscription(
                customer, self.microsoft_id, quantity_rules.patch_body(current, new_quantity)
            )
        except errors.MicrosoftError as exc:
            if exc.status == 409:
                raise UserError(
                    self.env._(
                        "Partner Center is busy with this subscription (a renewal or another "
                        "change is in progress), so the quantity stays %(old)s. Try again in "
                        "a few minutes.\n\n%(details)s",
                        old=old,
                        details=exc.user_message(),
                    )
                ) from None
            raise UserError(exc.user_message()) from None
        finally:
            recorder.flush()
        values = licence_rules.plan_subscription(answer)
        values.pop("microsoft_id")
        code_env(self).write({**values, "fingerprint": False})
        self.message_post(
            body=self.env._(
                "Quantity changed in Partner Center from %(old)s to %(new)s by %(user)s.",
                old=old,
                new=self.quantity,
                user=self.env.user.name,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return self.quantity
