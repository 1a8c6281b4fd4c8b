"""What the licences step writes: subscribed SKUs, subscriptions, assignments.

Plain data in, plans out; the models (``models/csp_subscribed_sku.py``,
``models/csp_subscription.py``) apply them. Nothing here reads or writes the database.
A value Microsoft did not send is left out of a plan, so a sync never empties a field
because a property went missing from one answer.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC

from ..microsoft.dates import is_unreadable, odoo_datetime, parse_datetime
from .tenants import is_guid

# licence import types (connection default, per-tenant override)
IMPORT_SKUS = "skus"  # all subscribed SKUs (Graph); the only choice for indirect resellers
IMPORT_SUBSCRIPTIONS = "subscriptions"  # your Partner Center subscriptions only
IMPORT_BOTH = "both"
IMPORT_TYPES = (IMPORT_SKUS, IMPORT_SUBSCRIPTIONS, IMPORT_BOTH)


class BadRecord(ValueError):
    """An item Microsoft sent that cannot be imported (said so on the run, skipped)."""


def effective_import_type(connection_type, tenant_override=None):
    """The import type of one tenant: its override, else the connection's, else SKUs."""
    for candidate in (tenant_override, connection_type):
        if candidate in IMPORT_TYPES:
            return candidate
    return IMPORT_SKUS


def reads_skus(import_type):
    return import_type in (IMPORT_SKUS, IMPORT_BOTH)


def reads_subscriptions(import_type):
    return import_type in (IMPORT_SUBSCRIPTIONS, IMPORT_BOTH)


# -- SKU names -------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuNames:
    """Product names by SKU id and, where a part number names one product only, by
    part number (Microsoft's list reuses a few part numbers)."""

    by_id: dict
    by_part: dict

    @classmethod
    def from_rows(cls, rows):
        """rows: (sku_id, part_number, name) triples."""
        by_id, parts = {}, {}
        for sku_id, part_number, name in rows:
            if sku_id:
                by_id[sku_id.strip().lower()] = name
            if part_number:
                parts.setdefault(_part_key(part_number), set()).add(name)
        by_part = {key: next(iter(names)) for key, names in parts.items() if len(names) == 1}
        return cls(by_id, by_part)

    def resolve(self, sku_id, part_number):
        """(product name, known): an unknown SKU is shown by its part number (else its
        id) and flagged for a person to name."""
        name = self.by_id.get((sku_id or "").strip().lower())
        if name is None and part_number:
            name = self.by_part.get(_part_key(part_number))
        if name is not None:
            return name, True
        return (part_number or sku_id or "").strip(), False


def _part_key(part_number):
    # Graph's part numbers may differ from the published list in whitespace and case
    return re.sub(r"\s+", "", part_number).upper()


# -- subscribed SKUs (Graph subscribedSkus) -----------------------------------------------

_UNITS = (
    ("enabled", "enabled_units"),
    ("suspended", "suspended_units"),
    ("warning", "warning_units"),
    ("lockedOut", "locked_out_units"),
)


def plan_subscribed_sku(item, names):
    """Field values of one Graph subscribedSku; BadRecord when it has no usable skuId."""
    if not isinstance(item, dict) or not is_guid(item.get("skuId")):
        raise BadRecord(f"a subscribed SKU without a valid skuId ({_short(item)})")
    sku_id = item["skuId"].strip().lower()
    values = {"microsoft_id": sku_id, "sku_id": sku_id}
    part_number = item.get("skuPartNumber")
    if isinstance(part_number, str) and part_number.strip():
        values["part_number"] = part_number.strip()
    name, known = names.resolve(sku_id, values.get("part_number"))
    values["product_name"] = name
    values["name_unknown"] = not known
    prepaid = item.get("prepaidUnits")
    if isinstance(prepaid, dict):
        for key, field_name in _UNITS:
            if _is_count(prepaid.get(key)):
                values[field_name] = prepaid[key]
    if _is_count(item.get("consumedUnits")):
        values["consumed_units"] = item["consumedUnits"]
    if isinstance(item.get("capabilityStatus"), str):
        values["capability_status"] = item["capabilityStatus"]
    ids = item.get("subscriptionIds")
    if isinstance(ids, list):
        values["subscription_refs"] = " ".join(sorted(str(i).lower() for i in ids if i)) or False
    elif "subscriptionIds" in item and ids is None:  # sent as null: cleared
        values["subscription_refs"] = False
    return values


# Free, trial and viral SKUs: Microsoft gives a tenant 10,000 (or more) seats of them at
# no cost (Power Automate Free, Teams Exploratory, Fabric Free...), or a trial's seats
# for a month. They are no seats anyone paid for: left out of the totals by default.
FREE_SEATS = 10000
FREE_KINDS = (("free", "Free"), ("trial", "Trial"), ("viral", "Viral (self-service sign-up)"))
_FREE_WORDS = re.compile(r"(^|[^A-Z])(FREE|EXPLORATORY|STANDARDWOFFPACK_STUDENT|IW)([^A-Z]|$)")


def free_kind(part_number, product_name=None, enabled_units=None, is_trial=False):
    """ "trial", "viral", "free" or None (a paid SKU), from the part number Graph sends
    (VIRAL, TRIAL, FREE, EXPLORATORY...), the product name ("(Free)", "Trial") and the
    seat count (Microsoft's 10,000-seat grants)."""
    part = re.sub(r"\s+", "_", (part_number or "").strip()).upper()
    name = (product_name or "").upper()
    if is_trial or "TRIAL" in part or re.search(r"\bTRIAL\b", name):
        return "trial"
    if "VIRAL" in part:
        return "viral"
    if _FREE_WORDS.search(part) or re.search(r"\bFREE\b", name):
        return "free"
    if isinstance(enabled_units, int) and enabled_units >= FREE_SEATS:
        return "free"
    return None


def subscription_free_kind(name, quantity, billing_cycle, sku_kind=None):
    """A Partner Center subscription's kind: its licence's (a free SKU), else from its
    name, and Microsoft's 10,000-seat grants, which have no billing cycle."""
    if sku_kind:
        return sku_kind
    unbilled = (billing_cycle or "none").strip().lower() in ("none", "")
    return free_kind(None, name, quantity if unbilled else None)


def unassigned_units(enabled, consumed):
    """Seats paid for and not assigned (never negative: Graph may report more consumed
    than enabled while seats are being removed)."""
    return max((enabled or 0) - (consumed or 0), 0)


# -- Partner Center subscriptions ------------------------------------------------------------

_SUBSCRIPTION_TEXT = (
    ("offerId", "offer_id"),
    ("offerName", "offer_name"),
    ("friendlyName", "friendly_name"),
    ("status", "status"),
    ("billingCycle", "billing_cycle"),
    ("termDuration", "term_duration"),
    ("unitType", "unit_type"),
    ("promotionId", "promotion_id"),
)
_SUBSCRIPTION_DATES = (
    ("creationDate", "creation_date"),
    ("effectiveStartDate", "start_date"),
    ("commitmentEndDate", "commitment_end_date"),
)
ALL = "*"  # in audit_changes: every subscription of the customer
STATUSES = ("active", "suspended", "deleted", "expired", "pending", "disabled")


def plan_subscription(item, unreadable=None):
    """Field values of one Partner Center subscription; BadRecord without an id.

    A date sent that cannot be read is left out of the values (the stored one is kept,
    never emptied) and, when ``unreadable`` (a dict) is given, listed there:
    ``{subscription id: [(property, value as sent)]}``."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise BadRecord(f"a subscription without an id ({_short(item)})")
    values = {"microsoft_id": item["id"].strip().lower()}
    for key, field_name in _SUBSCRIPTION_TEXT:
        if isinstance(item.get(key), str):
            values[field_name] = item[key].strip() or False
        elif key in item and item[key] is None:  # sent as null: cleared (absent: kept)
            values[field_name] = False
    if values.get("status") and values["status"].lower() not in STATUSES:
        values["status"] = "other"
    elif values.get("status"):
        values["status"] = values["status"].lower()
    if _is_count(item.get("quantity")):
        values["quantity"] = item["quantity"]
    if isinstance(item.get("autoRenewEnabled"), bool):
        values["auto_renew"] = item["autoRenewEnabled"]
    for key, field_name in _SUBSCRIPTION_DATES:
        if key not in item:
            continue
        if is_unreadable(item[key]):
            if unreadable is not None:
                unreadable.setdefault(values["microsoft_id"], []).append((key, item[key]))
            continue
        values[field_name] = _odoo_datetime(item[key])
    values.update(_subscription_objects(item))
    return values


def _odoo_datetime(value):
    """Naive UTC as Odoo stores it; False for none, or Partner Center's unset date
    (0001-01-01)."""
    return odoo_datetime(value) or False


def _subscription_objects(item):
    """The values from a subscription's nested objects (null clears, absent keeps)."""
    values = {}
    product_type = item.get("productType")
    if isinstance(product_type, dict) and isinstance(product_type.get("id"), str):
        values["product_type"] = product_type["id"]
    elif "productType" in item and product_type is None:
        values["product_type"] = False
    if "scheduledNextTermInstructions" in item:
        values["next_term_instructions"] = _json_text(item["scheduledNextTermInstructions"])
    refundable = item.get("refundableQuantity")
    if "refundableQuantity" in item and refundable is None:  # nothing refundable any more
        values["refundable_details"] = False
    elif isinstance(refundable, dict):
        details = refundable.get("details")
        values["refundable_details"] = _json_text(
            [
                {"quantity": d.get("quantity"), "until": d.get("allowedUntilDateTime")}
                for d in details or []
                if isinstance(d, dict)
            ]
        )
    return values


def _is_count(value):
    """A number of seats as Graph and Partner Center send them (JSON integers; True is
    not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _json_text(value):
    if value in (None, {}, []):
        return False
    return json.dumps(value, sort_keys=True)


def _short(item):
    return json.dumps(item, default=str)[:120]


# -- shared ---------------------------------------------------------------------------------------


def assignment_pairs(user_skus, known_skus):
    """{(user binding id, sku id)} for each licence a user holds whose SKU is one of the
    tenant's subscribed SKUs. ``user_skus``: {binding id: iterable of sku ids}."""
    known = {sku.lower() for sku in known_skus}
    return {
        (user, sku.lower())
        for user, skus in user_skus.items()
        for sku in skus
        if sku and sku.lower() in known
    }


# audit records whose resource is not one subscription but may add or move some (a
# purchase, a transfer between partners): the customer's whole list is read again
_LIST_CHANGES = ("order", "transfer")


def _audit_subscription(record):
    """(customer id, subscription id or ``ALL``) named by one audit record (``ALL``: a
    subscription record that names none, an order or a transfer), or None for a record
    of another resource type."""
    if not isinstance(record, dict) or not is_guid(record.get("customerId")):
        return None
    kind = record.get("resourceType")
    kind = kind.lower() if isinstance(kind, str) else ""
    if kind not in ("subscription", *_LIST_CHANGES):
        return None
    customer = record["customerId"].strip().lower()
    if kind in _LIST_CHANGES:
        return customer, ALL
    sub_id = None
    for entry in record.get("customizedData") or []:
        if not isinstance(entry, dict):
            continue
        key = entry.get("key", entry.get("Key"))
        if isinstance(key, str) and key.lower() == "subscriptionid":
            sub_id = entry.get("value", entry.get("Value"))
    if not sub_id:
        try:
            sub_id = json.loads(record.get("resourceNewValue") or "{}").get("id")
        except (ValueError, AttributeError):
            sub_id = None
    return customer, (sub_id.lower() if isinstance(sub_id, str) and sub_id else ALL)


def audit_changes(records):
    """{customer id: {subscription ids}} named by Partner Center's audit records;
    ``ALL`` in a set: re-read the customer's whole list (a subscription record that
    names none, an order or a transfer). Other resource types are left out."""
    changes = {}
    for record in records or []:
        named = _audit_subscription(record)
        if named:
            changes.setdefault(named[0], set()).add(named[1])
    return changes


def audit_times(records):
    """{customer id: {subscription id: ISO time}}: when Partner Center's audit records
    say each named subscription last changed (``operationDate``, UTC); records without a
    readable date or a subscription id are left out."""
    times = {}
    for record in records or []:
        named = _audit_subscription(record)
        when = parse_datetime(record.get("operationDate")) if named else None
        if when is None or named[1] == ALL:
            continue
        found = times.setdefault(named[0], {})
        text = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found[named[1]] = max(found.get(named[1], text), text)
    return times
