# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing step and OCA contract's invoicing take turns per contract.

Both write a contract's lines (the billing step their quantities and new lines, the
invoicing their invoiced dates) in transactions that can overlap: whichever writes second
would die with a serialization failure, and OCA's invoicing job invoices every due
contract of a company in one transaction, so one such failure rolled back the day's
invoices. So each takes the contract's row lock first (``FOR NO KEY UPDATE SKIP
LOCKED``: never waiting) and leaves a contract the other holds, or changed since it began,
for its next turn: the billing step names it on its run line and updates it on the next
run; the invoicing job invoices the contracts it locked together (as OCA does) in a
savepoint, and each on its own when one of them changed under it, so it keeps every
other contract's invoice; it wakes itself again a few minutes later for those it left.
"""

import datetime as dt
import logging

from odoo import api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

_logger = logging.getLogger(__name__)

RETRY_MINUTES = 5  # the invoicing job wakes again this soon for the contracts it left


def _lock(cr, ids):
    cr.execute(
        "SELECT id FROM contract_contract WHERE id IN %s FOR NO KEY UPDATE SKIP LOCKED",
        [tuple(ids)],
        log_exceptions=False,
    )
    return {row[0] for row in cr.fetchall()}


def lock_contracts(cr, ids):
    """Take the row locks of the contracts ``ids`` in this transaction, never waiting;
    the ids locked. A contract is left out when another transaction holds it (invoicing
    or billing it now) or changed it since this transaction's snapshot (invoiced it
    already): leave it for later. One query, or one per contract when one of them
    changed (its error would refuse them all)."""
    if not ids:
        return set()
    try:
        with cr.savepoint(flush=False):
            return _lock(cr, ids)
    except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
        locked = set()
        for contract_id in ids:
            try:
                with cr.savepoint(flush=False):
                    locked |= _lock(cr, [contract_id])
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                continue
        return locked


class ContractContract(models.Model):
    _inherit = "contract.contract"

    @api.model
    def _cron_recurring_create(self, date_ref=False, create_type="invoice"):
        """OCA contract's job, each contract on its own (_recurring_create_invoice)."""
        return super(
            ContractContract, self.with_context(csp_invoice_each_contract=True)
        )._cron_recurring_create(date_ref=date_ref, create_type=create_type)

    def _recurring_create_invoice(self, date_ref=False):
        """In the scheduled job: the contracts' invoices after their row locks, all at
        once as OCA does, or each in its own savepoint when one of them changed under
        the job; a contract the billing step holds or changed meanwhile is left for the
        job's next wake-up (in a few minutes) instead of failing every other invoice."""
        if not self.env.context.get("csp_invoice_each_contract") or not self:
            return super()._recurring_create_invoice(date_ref)
        self.env.flush_all()
        locked = self.browse(sorted(lock_contracts(self.env.cr, self.ids)))
        left = self - locked
        try:
            with self.env.cr.savepoint():
                moves = super(ContractContract, locked)._recurring_create_invoice(date_ref)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            moves = self.env["account.move"]
            for contract in locked:
                try:
                    with self.env.cr.savepoint():
                        moves |= super(ContractContract, contract)._recurring_create_invoice(
                            date_ref
                        )
                except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY as exc:
                    left |= contract
                    _logger.info("Contract %s changed while it was invoiced: %s", contract.id, exc)
        if left:
            _logger.info(
                "Contracts %s are being updated by the Microsoft CSP billing step: invoiced "
                "again in %s minutes",
                left.ids,
                RETRY_MINUTES,
            )
            cron = self.env.ref("contract.contract_cron_for_invoice", raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger(fields.Datetime.now() + dt.timedelta(minutes=RETRY_MINUTES))
        return moves
