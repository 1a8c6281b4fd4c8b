# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The subscription change ledger: one row per change of a subscription Microsoft told
us about, with its old and new state, when it took effect and where that time comes
from. Rows are made by :meth:`CspSubscriptionChange._csp_record` only (the decisions are
sync/ledger.py's); nobody writes or deletes them. Feature add-ons read it instead of the
chatter."""

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..microsoft import words
from ..sync import ledger
from .csp_guard import is_code

KINDS = [
    (ledger.PURCHASE, "Purchase"),
    (ledger.FIRST_SEEN, "First seen"),
    (ledger.QUANTITY, "Seat change"),
    (ledger.RENEWAL, "Renewal"),
    (ledger.CANCEL, "Cancellation"),
    (ledger.REACTIVATE, "Reactivation"),
    (ledger.STATUS, "Status change"),
    (ledger.BILLING_CYCLE, "Billing cycle change"),
    (ledger.TERM, "Term change"),
]
SOURCES = [
    (ledger.AUDIT_RECORD, "Partner Center audit record"),
    (ledger.WEBHOOK, "Webhook event"),
    (ledger.READ, "Seen by the sync"),
    (ledger.ACTION, "Changed from Odoo"),
]
SOURCE_KEY = "csp_change_sources"


class Sources(dict):
    """{subscription Microsoft id: ledger.Observed fields} of a read triggered by
    something other than the schedule (a webhook event): in the context under
    ``SOURCE_KEY``. Only this class counts (a context sent over RPC is a plain dict)."""


class CspSubscriptionChange(models.Model):
    _name = "csp.subscription.change"
    _description = "Microsoft Subscription Change"
    _order = "changed_at desc, id desc"
    _rec_name = "kind"

    subscription_id = fields.Many2one(
        "csp.subscription", required=True, readonly=True, ondelete="cascade", index=True
    )
    connection_id = fields.Many2one(related="subscription_id.connection_id", store=True)
    csp_tenant_id = fields.Many2one(
        related="subscription_id.csp_tenant_id", store=True, string="Tenant"
    )
    company_id = fields.Many2one(related="subscription_id.company_id", store=True, index=True)
    partner_id = fields.Many2one(related="subscription_id.partner_id", string="Customer")
    kind = fields.Selection(KINDS, required=True, readonly=True)
    changed_at = fields.Datetime(
        string="Took Effect", required=True, readonly=True, index=True,
        help="When the change took effect, as its source says.",
    )  # fmt: skip
    source = fields.Selection(
        SOURCES, string="Time From", required=True, readonly=True,
        help="Where the time comes from: Partner Center's audit record, a webhook event, "
        "the sync that saw the change, or the change made from Odoo.",
    )  # fmt: skip
    key = fields.Char(required=True, readonly=True, help="The change from the row before.")
    audit_ref = fields.Char(string="Audit Record", readonly=True, index=True)
    webhook_event_id = fields.Many2one("csp.webhook.event", readonly=True, ondelete="set null")
    webhook_ref = fields.Char(string="Webhook Event Id", readonly=True)
    user_id = fields.Many2one("res.users", string="Changed By", readonly=True)
    old_quantity = fields.Integer(readonly=True)
    new_quantity = fields.Integer(string="Quantity", readonly=True)
    old_status = fields.Char(readonly=True)
    new_status = fields.Char(string="Status", readonly=True)
    old_term_start = fields.Datetime(readonly=True)
    new_term_start = fields.Datetime(string="Term Start", readonly=True)
    old_billing_cycle = fields.Char(readonly=True)
    new_billing_cycle = fields.Char(string="Billing Cycle", readonly=True)
    old_term_duration = fields.Char(readonly=True)
    new_term_duration = fields.Char(string="Term", readonly=True)
    kind_words = fields.Char(string="Change", compute="_compute_words")
    new_billing_cycle_words = fields.Char(string="Billing Cycle ", compute="_compute_words")
    new_term_words = fields.Char(string="Term ", compute="_compute_words")

    _sql_constraints = [
        ("key_unique", "unique(subscription_id, key)", "Each change is recorded once."),
        ("audit_unique", "unique(subscription_id, audit_ref)",
         "Each audit record is recorded once."),
    ]  # fmt: skip

    @api.depends("kind", "old_quantity", "new_quantity", "new_billing_cycle", "new_term_duration")
    def _compute_words(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for change in self:
            seats = change.kind == ledger.QUANTITY and words.seat_change(
                change.old_quantity, change.new_quantity
            )
            change.kind_words = seats or labels.get(change.kind) or False
            change.new_billing_cycle_words = words.billing_cycle(change.new_billing_cycle)
            change.new_term_words = words.duration(change.new_term_duration)

    @api.depends("kind_words", "subscription_id", "changed_at")
    def _compute_display_name(self):
        for change in self:
            change.display_name = (
                f"{change.subscription_id.display_name}: {change.kind_words or ''}, "
                f"{words.day(change.changed_at)}"
            )

    # -- nobody but the connector writes it -------------------------------------------

    def _csp_refuse(self):
        raise AccessError(
            self.env._(
                "The change history of a subscription is kept by the Microsoft CSP "
                "connector itself: it cannot be created, changed or deleted by hand, by an "
                "import or over the API."
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        if not is_code(self.env):
            self._csp_refuse()
        return super().create(vals_list)

    def write(self, vals):
        if not is_code(self.env):
            self._csp_refuse()
        return super().write(vals)

    def unlink(self):
        # the ledger goes only with its subscription (ondelete cascade, in SQL)
        if not self.env.su:
            self._csp_refuse()
        return super().unlink()

    # -- recording ----------------------------------------------------------------------

    @api.model
    def _csp_change_prices(self, subscription):
        """{field: value} of the prices in force for a change of ``subscription``: none
        in the core; a feature add-on adds the prices it stores (a cost, a list price)."""
        return {}

    @api.model
    def _csp_billed_ids(self, changes):
        """The ids of ``changes`` something was billed from (their time is settled):
        none in the core; the feature add-on that bills says which."""
        return set()

    @api.model
    def _csp_record(self, observations):
        """The one way into the ledger. ``observations``: [(subscription, ledger.Observed)]
        in the order they happened; each goes where sync/ledger.place says. Returns the
        rows created or dated by an audit record."""
        Change = self.sudo()  # code only: users may not create rows (see create)
        subscriptions = self.env["csp.subscription"].browse({s.id for s, __ in observations}).sudo()
        rows = Change.search([("subscription_id", "in", subscriptions.ids)], order="id")
        billed = self._csp_billed_ids(rows)
        by_subscription = {}
        for row in rows:
            by_subscription.setdefault(row.subscription_id.id, []).append(row)
        touched = Change.browse()
        for subscription, observed in observations:
            known = by_subscription.setdefault(subscription.id, [])
            plain = [r._csp_plain(billed) for r in known]
            decision = ledger.place(plain, observed)
            if isinstance(decision, ledger.Skip):
                continue
            for row_id, (kind, old) in decision.rechain.items():
                Change.browse(row_id).write({"kind": kind, **_state_values("old", old)})
            if isinstance(decision, ledger.Enrich):
                row = Change.browse(decision.row_id)
                row.write({"changed_at": decision.at, "source": ledger.AUDIT_RECORD,
                           "audit_ref": observed.ref})  # fmt: skip
                touched |= row
                continue
            if Change.search_count([("subscription_id", "=", subscription.id),
                                    ("key", "=", decision.key)]):  # fmt: skip
                continue
            row = Change.create(self._csp_row_values(subscription, observed, decision))
            known.append(row)
            touched |= row
        return touched

    @api.model
    def _csp_row_values(self, subscription, observed, decision):
        values = {
            "subscription_id": subscription.id,
            "kind": decision.kind,
            "changed_at": decision.at,
            "source": observed.source,
            "key": decision.key,
            **_state_values("old", decision.old),
            **_state_values("new", decision.new),
            **self._csp_change_prices(subscription),
        }
        if observed.source == ledger.AUDIT_RECORD:
            values["audit_ref"] = observed.ref
        elif observed.source == ledger.WEBHOOK:
            values["webhook_ref"] = observed.ref
            event = self.env["csp.webhook.event"].sudo().browse(int(observed.ref or 0))
            values["webhook_event_id"] = event.exists().id
        elif observed.source == ledger.ACTION:
            values["user_id"] = self.env.uid
        return values

    def _csp_plain(self, billed):
        """This row as sync/ledger.py's decisions see it."""
        return ledger.Row(
            self.id, self.changed_at, self._csp_state("new"), self._csp_state("old"),
            self.kind, self.source, self.audit_ref,
            fixed=self.id in billed or self.kind in ledger.OPENING,
        )  # fmt: skip

    def _csp_state(self, prefix):
        if prefix == "old" and self.kind in ledger.OPENING:
            return None
        return ledger.State(
            self[f"{prefix}_quantity"], self[f"{prefix}_status"] or None,
            self[f"{prefix}_term_start"] or None, self[f"{prefix}_billing_cycle"] or None,
            self[f"{prefix}_term_duration"] or None,
        )  # fmt: skip


def _state_values(prefix, state):
    if state is None:
        return {}
    return {
        f"{prefix}_quantity": state.quantity or 0,
        f"{prefix}_status": state.status or False,
        f"{prefix}_term_start": state.term_start or False,
        f"{prefix}_billing_cycle": state.billing_cycle or False,
        f"{prefix}_term_duration": state.term_duration or False,
    }
