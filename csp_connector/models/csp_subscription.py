# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center subscriptions of a customer, and changing their quantity."""

from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..importers.binding import BindingImporter, Planned
from ..microsoft import errors, words
from ..microsoft.dates import parse_datetime
from ..sync import ledger
from ..sync import licences as licence_rules
from ..sync import subscriptions as quantity_rules
from .csp_guard import code_env
from .csp_subscription_change import SOURCE_KEY, Sources

PENDING_FOR = timedelta(hours=24)  # an accepted change no read confirmed since: dropped


class CspSubscription(models.Model):
    _name = "csp.subscription"
    _inherit = ["csp.binding.mixin", "csp.code.guard", "csp.licence.record", "mail.thread"]
    _description = "Microsoft Subscription"
    _order = "partner_id, friendly_name"
    _rec_name = "friendly_name"

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
    billing_cycle = fields.Char(string="Billing Cycle (Microsoft)", readonly=True)
    term_duration = fields.Char(
        string="Term (Microsoft)", readonly=True, help="ISO 8601 duration, e.g. P1Y or P1M."
    )
    free_kind = fields.Selection(
        licence_rules.FREE_KINDS, string="Free / Trial", compute="_compute_free_kind",
        store=True, index=True,
        help="A subscription of one of Microsoft's free, trial or self-service (viral) SKUs "
        "(often 10,000 seats nobody paid for): left out of the lists' seat totals by default.",
    )  # fmt: skip
    billing_cycle_words = fields.Char(string="Billing Cycle", compute="_compute_words", store=True)
    term_words = fields.Char(string="Term", compute="_compute_words", store=True)
    unit_type = fields.Char(readonly=True)
    promotion_id = fields.Char(string="Promotion Id", readonly=True)
    product_type = fields.Char(readonly=True)
    creation_date = fields.Datetime(readonly=True)
    start_date = fields.Datetime(string="Effective Start", readonly=True)
    commitment_end_date = fields.Datetime(string="Commitment End", readonly=True)
    # the days Microsoft means by those moments (its dates are UTC midnights): shown as
    # days, never shifted into the viewer's time zone
    creation_day = fields.Date(string="Created On", compute="_compute_days", store=True)
    start_day = fields.Date(string="Term Start", compute="_compute_days", store=True)
    renewal_day = fields.Date(
        string="Renews On", compute="_compute_days", store=True,
        help="The end of the commitment: the subscription renews (or ends) that day.",
    )  # fmt: skip
    auto_renew = fields.Boolean(readonly=True, tracking=True)
    changed_at = fields.Datetime(
        string="Changed in Partner Center", readonly=True, tracking=True,
        help="When Partner Center's audit record dates this subscription's last change "
        "(empty: no audit record read yet); the Change History tab has each change.",
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
    pending_quantity = fields.Integer(
        readonly=True, copy=False,
        help="Partner Center accepted a change to this many seats (answer 202) and is still "
        "applying it; cleared once a read of the subscription shows it.",
    )  # fmt: skip
    pending_since = fields.Datetime(readonly=True, copy=False)
    date_problem = fields.Text(
        string="Unreadable Dates", readonly=True, copy=False,
        help="Dates Partner Center sent that Odoo could not read: the previous values are "
        "kept until Partner Center sends a readable one.",
    )  # fmt: skip
    can_adjust = fields.Boolean(related="connection_id.adjust_quantities")
    note = fields.Text(help="Your own notes; the sync never changes them.")
    change_ids = fields.One2many(
        "csp.subscription.change", "subscription_id", string="Change History", readonly=True,
        help="Each change Microsoft told us about, when it took effect and where that time "
        "comes from (what features read instead of the chatter).",
    )  # fmt: skip

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "connection_id", "csp_tenant_id", "microsoft_id", "removed", "removed_date",
            "fingerprint", "offer_id", "offer_name", "friendly_name", "quantity", "status",
            "billing_cycle", "term_duration", "unit_type", "promotion_id", "creation_date",
            "start_date", "commitment_end_date", "auto_renew", "product_type",
            "next_term_instructions", "refundable_details", "subscribed_sku_id",
            "changed_at", "pending_quantity", "pending_since", "date_problem",
        }  # fmt: skip

    @api.depends(
        "subscribed_sku_id.free_kind", "offer_name", "friendly_name", "quantity", "billing_cycle"
    )
    def _compute_free_kind(self):
        for record in self:
            record.free_kind = licence_rules.subscription_free_kind(
                record.offer_name or record.friendly_name, record.quantity,
                record.billing_cycle, record.subscribed_sku_id.free_kind,
            )  # fmt: skip

    @api.depends("billing_cycle", "term_duration")
    def _compute_words(self):
        for record in self:
            record.billing_cycle_words = words.billing_cycle(record.billing_cycle)
            record.term_words = words.duration(record.term_duration)

    @api.depends("creation_date", "start_date", "commitment_end_date")
    def _compute_days(self):
        for record in self:
            record.creation_day = words.day(record.creation_date) or False
            record.start_day = words.day(record.start_date) or False
            record.renewal_day = words.day(record.commitment_end_date) or False

    @api.depends("friendly_name", "offer_name", "partner_id", "csp_tenant_id")
    def _compute_display_name(self):
        for record in self:
            name = record.friendly_name or record.offer_name or record.env._("Subscription")
            owner = record.partner_id.name or record.csp_tenant_id.name
            record.display_name = f"{name} ({owner})" if owner else name

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
        importer = BindingImporter(code_env(self), tenant)
        plans, refused, unreadable = [], [], {}
        for item in items:
            try:
                values = licence_rules.plan_subscription(item, unreadable)
            except licence_rules.BadRecord as exc:
                refused.append(str(exc))
                continue
            plans.append(Planned(values.pop("microsoft_id"), values))
        # what Odoo knew before this read opens the history of a subscription without one
        unopened = self.search([("csp_tenant_id", "=", tenant.id), ("change_ids", "=", False)])
        unopened.with_context(**{SOURCE_KEY: None})._csp_note_changes(ledger.READ)
        importer.apply(plans)
        # then what this read saw (a webhook's re-read: dated and named by its events)
        read_ids = [plan.microsoft_id for plan in plans]
        read = self.search([("csp_tenant_id", "=", tenant.id), ("microsoft_id", "in", read_ids)])
        read._csp_note_changes(ledger.READ)
        importer.archive_missing(complete=complete and not refused)
        counters = dict(importer.counters)
        read_ids = [plan.microsoft_id for plan in plans]
        problems = refused + self._csp_explain_dates(tenant, read_ids, unreadable)
        if problems:
            counters["errors"] = len(problems)
            counters["message"] = "; ".join(problems[:5])
        return counters

    # -- the change history ------------------------------------------------------------

    def _csp_state_values(self):
        """The values of this subscription that its change history follows."""
        return {name: self[name] for name in ledger.VALUE_NAMES.values()}

    def _csp_note_changes(self, source, at=None):
        """Record in the change history what these subscriptions are now, as ``source``
        (sync/ledger.py SOURCES) saw it at ``at`` (default: now). A read triggered by
        webhook events carries their times and ids (``Sources`` in the context). The
        one entry into the history with csp.subscription.change._csp_record."""
        now = fields.Datetime.now()
        given = self.env.context.get(SOURCE_KEY)
        events = given if type(given) is Sources else {}  # this class only (not a plain dict)
        observations = []
        for subscription in self:
            when, kind, ref = at or now, source, None
            if source == ledger.READ and subscription.microsoft_id in events:
                when, ref = events[subscription.microsoft_id]
                kind = ledger.WEBHOOK
            observations.append((subscription, ledger.Observed(
                subscription._csp_state_values(), when, kind, ref,
                subscription.creation_date or None,
            )))  # fmt: skip
        return self.env["csp.subscription.change"]._csp_record(observations)

    @api.model
    def _csp_explain_dates(self, tenant, read_ids, unreadable):
        """Say on each subscription read which dates Partner Center sent that could not
        be read (``unreadable``: {id: [(property, value)]}; their old values were kept),
        once (a note when it changes), and clear it when they read again. Returns the
        run's lines about them."""
        subscriptions = self.search(
            [("csp_tenant_id", "=", tenant.id), ("microsoft_id", "in", read_ids),
             "|", ("date_problem", "!=", False), ("microsoft_id", "in", list(unreadable))]
        )  # fmt: skip
        lines = []
        for subscription in subscriptions:
            found = unreadable.get(subscription.microsoft_id)
            text = False
            if found:
                text = "\n".join(f"{key}: {value!r}" for key, value in found)
                lines.append(self.env._(
                    "Partner Center sent dates Odoo cannot read for the subscription "
                    "%(name)s (%(dates)s): the previous values were kept, so its pro-rata "
                    "uses them. Likely cause: a date format Partner Center does not "
                    "document, or a damaged answer. How to fix it: check the subscription's "
                    "dates in Partner Center; the request log holds the answer.",
                    name=subscription.friendly_name or subscription.microsoft_id,
                    dates=", ".join(f"{key} {value!r}" for key, value in found),
                ))  # fmt: skip
            if text == (subscription.date_problem or False):
                continue
            code_env(subscription).write({"date_problem": text})
            if text:
                subscription.message_post(
                    body=Markup("<p>%s</p><p>%s</p>") % (
                        self.env._("Partner Center sent dates Odoo cannot read; the previous "
                                   "values were kept:"),
                        ", ".join(text.splitlines()),
                    ),
                    subtype_xmlid="mail.mt_note",
                )  # fmt: skip
        return lines

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
        return self.env["ir.actions.act_window"]._csp_window(
            "csp.subscription.quantity",
            target="new",
            name=self.env._("Adjust quantity"),
            context={"default_subscription_id": self.id, "default_new_quantity": self.quantity},
        )

    def _csp_check_adjust(self):
        self._csp_check_change(
            "adjust_quantities",
            self.env._("Adjusting quantities from Odoo is off for the connection %s (it is "
                       "for direct resellers): turn on 'Adjust quantities' on its Licences tab."),
            self.env._("This subscription is no longer in Partner Center."),
        )  # fmt: skip

    def _csp_set_quantity(self, new_quantity):
        """Send `new_quantity` to Partner Center; Odoo shows it once Partner Center
        applied it (a 200 answer, in either casing), or as pending when Partner Center
        only accepted it (202) until a read confirms it. Refused here, before any call,
        when the rules forbid it."""
        self.ensure_one()
        self._csp_check_adjust()
        now = datetime.now(UTC)
        old = self.quantity
        decision = quantity_rules.check_quantity_change(
            old, new_quantity, quantity_rules.windows_from(self.refundable_details),
            now, status=self.status, renewal=self.commitment_end_date,
            added=self._csp_seats_added_at(),
        )  # fmt: skip
        if not decision.allowed:
            raise UserError(decision.reason)
        connection, customer = self.connection_id, self.csp_tenant_id.tenant_id
        with connection._csp_call_microsoft() as http:
            try:
                client = connection._csp_partner_center(http)
                current = client.subscription(customer, self.microsoft_id)
                # what Partner Center says now (another change may have come in between)
                fresh = licence_rules.plan_subscription(current)
                decision = quantity_rules.check_quantity_change(
                    fresh.get("quantity", old), new_quantity,
                    quantity_rules.windows_from(fresh.get("refundable_details") or "[]"),
                    now, status=fresh.get("status", self.status),
                    renewal=fresh.get("commitment_end_date") or self.commitment_end_date,
                    added=self._csp_seats_added_at(),
                )  # fmt: skip
                if not decision.allowed:
                    raise UserError(decision.reason)
                answer = client.patch_subscription(
                    customer, self.microsoft_id, quantity_rules.patch_body(current, new_quantity)
                )
            except errors.MicrosoftError as exc:
                if exc.status != 409:
                    raise  # explained as it is
                raise UserError(
                    self.env._(
                        "Partner Center is busy with this subscription (a renewal or another "
                        "change is in progress), so the quantity stays %(old)s. Try again in "
                        "a few minutes.\n\n%(details)s",
                        old=old,
                        details=exc.user_message(),
                    )
                ) from None
        if not answer.applied:  # accepted (202): a later read confirms it
            return self._csp_quantity_pending(old, new_quantity)
        values = licence_rules.plan_subscription(answer.subscription)
        values.pop("microsoft_id")
        values.update(self._csp_no_pending())  # applied: nothing pending any more
        code_env(self).write({**values, "fingerprint": False})
        self._csp_note_changes(ledger.ACTION)
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

    def _csp_seats_added_at(self):
        """When Odoo last saw seats added to this subscription (its change history: a
        seat increase or its purchase), else its creation date, or None."""
        for change in self.change_ids.sorted("changed_at", reverse=True):
            if change.kind == ledger.PURCHASE or (
                change.kind == ledger.QUANTITY and change.new_quantity > change.old_quantity
            ):
                return change.changed_at
        return self.creation_date or None

    def _csp_no_pending(self):
        return {"pending_quantity": 0, "pending_since": False} if self.pending_quantity else {}

    def _csp_quantity_pending(self, old, asked):
        """Partner Center accepted the change without applying it yet: the quantity stays
        what Partner Center last showed, the asked one is pending, and the next licences
        step reads the subscription again."""
        code_env(self).write({"pending_quantity": asked, "pending_since": fields.Datetime.now()})
        self.csp_tenant_id._csp_note_changed_subscriptions([self.microsoft_id])
        self.message_post(
            body=self.env._(
                "Partner Center accepted the change from %(old)s to %(new)s seats asked by "
                "%(user)s and is still applying it: %(new)s is shown as pending until "
                "Partner Center confirms it (the next licences sync reads it again).",
                old=old,
                new=asked,
                user=self.env.user.name,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return self.quantity

    @api.model
    def _csp_settle_pending(self, tenant):
        """After a read of `tenant`'s subscriptions: a pending quantity the read shows is
        confirmed (cleared); one Partner Center still does not show a day after it was
        accepted is dropped, with a note (the change did not happen)."""
        now = fields.Datetime.now()
        for subscription in self.search(
            [("csp_tenant_id", "=", tenant.id), ("pending_quantity", ">", 0)]
        ):
            asked = subscription.pending_quantity
            if subscription.quantity == asked:
                body = self.env._("Partner Center confirmed the change to %s seats.", asked)
            elif subscription.pending_since and subscription.pending_since > now - PENDING_FOR:
                continue
            else:
                body = self.env._(
                    "Partner Center accepted a change to %(asked)s seats on %(when)s but still "
                    "shows %(quantity)s: the change did not happen. Check the subscription in "
                    "Partner Center, and adjust the quantity again if it is still needed.",
                    asked=asked,
                    when=f"{subscription.pending_since:%Y-%m-%d %H:%M} UTC",
                    quantity=subscription.quantity,
                )
            code_env(subscription).write(subscription._csp_no_pending())
            subscription.message_post(body=body, subtype_xmlid="mail.mt_note")
