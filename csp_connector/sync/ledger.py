"""The subscription change ledger's decisions: what changed, which kind, its key, and
where one observation of a subscription goes among the changes already known.

A subscription's *state* is what Microsoft charges by: quantity, status, term start,
billing cycle and term. Each time Microsoft tells us about a subscription (a Partner
Center audit record, a webhook event and the read it triggers, a read of the licences
step, the answer to a change made from Odoo) the state observed is compared with the
ledger's: the same state again is no new change, so a webhook, the audit record and the
next read of one change make one row.

Audit records are dated by Partner Center (``operationDate``) and may arrive after a
read or a webhook already recorded their change (dated when it was seen). Such a row,
not yet *fixed* (billed, or itself from an audit record), takes the record's time and
id; an audit record whose change no row holds yet is put at its own time, and the
unfixed rows after it follow from its state. A record older than the last fixed row
changes nothing (what was billed stays as it was billed).

Plain data in, decisions out; nothing here reads or writes the database.
"""

import dataclasses
import datetime as dt
import hashlib
import json

from ..microsoft.dates import odoo_datetime, parse_datetime

# kinds of change
PURCHASE = "purchase"
FIRST_SEEN = "first_seen"  # the opening row of a subscription bought before Odoo knew it
QUANTITY = "quantity"
RENEWAL = "renewal"
CANCEL = "cancel"
REACTIVATE = "reactivate"
STATUS = "status"  # another status change (suspended, expired, ...)
BILLING_CYCLE = "billing_cycle"
TERM = "term"
OPENING = (PURCHASE, FIRST_SEEN)
KINDS = (PURCHASE, FIRST_SEEN, QUANTITY, RENEWAL, CANCEL, REACTIVATE, STATUS, BILLING_CYCLE,
         TERM)  # fmt: skip

# where a change's time comes from
AUDIT_RECORD = "audit_record"
WEBHOOK = "webhook"
READ = "read"
ACTION = "action"  # a change made from Odoo (its user), dated by Partner Center's answer
SOURCES = (AUDIT_RECORD, WEBHOOK, READ, ACTION)

INACTIVE = ("suspended", "deleted", "disabled", "expired")
_FIELDS = ("quantity", "status", "term_start", "billing_cycle", "term_duration")
# the subscription's fields (as plan_subscription names them) of each state field
VALUE_NAMES = {"quantity": "quantity", "status": "status", "term_start": "start_date",
               "billing_cycle": "billing_cycle", "term_duration": "term_duration"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class State:
    """What Microsoft charges a subscription by (naive UTC term start)."""

    quantity: int | None = None
    status: str | None = None
    term_start: dt.datetime | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None

    @classmethod
    def from_values(cls, values, base=None):
        """The state of subscription ``values`` (as plan_subscription gives them, or a
        record's values); a field not given keeps ``base``'s: a value Microsoft did not
        send is never taken as emptied."""
        given = {}
        for name, key in VALUE_NAMES.items():
            if key in values:
                given[name] = values[key] if values[key] is not False else None
            elif base is not None:
                given[name] = getattr(base, name)
        if isinstance(given.get("term_start"), str):
            given["term_start"] = odoo_datetime(given["term_start"])
        return cls(**given)

    def same(self, other):
        """Whether two states are charged the same (a term start on the same day)."""
        return other is not None and _compared(self) == _compared(other)

    def digest(self):
        text = json.dumps(_compared(self), sort_keys=True, default=str)
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def _compared(state):
    values = dataclasses.asdict(state)
    start = values["term_start"]
    values["term_start"] = start.date().isoformat() if start else None
    return {k: v.lower() if isinstance(v, str) else v for k, v in values.items()}


@dataclasses.dataclass(frozen=True)
class Observed:
    """One thing Microsoft told us about a subscription: its state (``values``,
    partial for an audit record) at ``at`` (naive UTC), from ``source`` (``ref``: the
    audit record's or the webhook event's id)."""

    values: dict
    at: dt.datetime
    source: str
    ref: str | None = None
    creation_date: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Row:
    """A ledger row as the decisions need it. ``fixed``: billed, opening or from an
    audit record: its time and state are settled."""

    id: int
    at: dt.datetime
    state: State
    old: State | None
    kind: str
    source: str
    ref: str | None = None
    fixed: bool = False


@dataclasses.dataclass(frozen=True)
class Insert:
    kind: str
    at: dt.datetime
    old: State | None
    new: State
    key: str
    rechain: dict = dataclasses.field(default_factory=dict)  # row id -> (kind, old state)


@dataclasses.dataclass(frozen=True)
class Enrich:
    """An existing row takes the audit record's time and id."""

    row_id: int
    at: dt.datetime
    rechain: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Skip:
    reason: str


def kind_of(old, new, creation_date=None):
    """The kind of change from ``old`` to ``new`` (None: charged the same)."""
    if old is None:
        purchase = (
            creation_date is not None
            and new.term_start is not None
            and abs(creation_date - new.term_start) <= dt.timedelta(days=1)
        )
        return PURCHASE if purchase else FIRST_SEEN
    if new.same(old):
        return None
    if new.status == "deleted" and old.status != "deleted":
        return CANCEL
    if new.status == "active" and old.status in INACTIVE:
        return REACTIVATE
    if new.term_start and old.term_start and new.term_start.date() > old.term_start.date():
        return RENEWAL
    if new.quantity != old.quantity:
        return QUANTITY
    if new.status != old.status:
        return STATUS
    if new.billing_cycle != old.billing_cycle:
        return BILLING_CYCLE
    return TERM


def effective_time(kind, new, at, creation_date=None):
    """When a change of ``kind`` took effect, observed at ``at``: a purchase or a renewal
    at its term's start (not after it was observed), anything else when observed."""
    if kind in (PURCHASE, RENEWAL) and new.term_start is not None:
        start = new.term_start if kind == RENEWAL else (creation_date or new.term_start)
        return min(start, at)
    return at


def key(previous_id, state):
    """The change's key: the transition from the row before to this state. The same
    change observed twice (a webhook and a read in two transactions) gives the same key,
    which the database keeps once per subscription."""
    return f"{previous_id or 0}>{state.digest()}"


def _ordered(rows):
    return sorted(rows, key=lambda r: (r.at, r.id))


def place(rows, observed):
    """Where ``observed`` goes among the subscription's ledger ``rows``: an
    :class:`Insert`, an :class:`Enrich` (audit records only) or a :class:`Skip`."""
    rows = _ordered(rows)
    if observed.source == AUDIT_RECORD:
        return _place_audit(rows, observed)
    last = rows[-1] if rows else None
    new = State.from_values(observed.values, last.state if last else None)
    kind = kind_of(last.state if last else None, new, observed.creation_date)
    if kind is None:
        return Skip("the state is the ledger's already")
    at = observed.at if last is None else max(observed.at, last.at)
    at = effective_time(kind, new, at, observed.creation_date)
    if last is not None:
        at = max(at, last.at)  # never before the change it follows
    return Insert(kind, at, last.state if last else None, new,
                  key(last.id if last else None, new))  # fmt: skip


def _place_audit(rows, observed):
    if not rows:
        return Skip("the subscription has not been read yet (its read opens the ledger)")
    if observed.ref and any(r.ref == observed.ref for r in rows):
        return Skip("this audit record is in the ledger already")
    fixed = [i for i, r in enumerate(rows) if r.fixed or r.source == AUDIT_RECORD]
    start = fixed[-1] + 1 if fixed else 0
    if fixed and observed.at < rows[fixed[-1]].at:
        return Skip("older than a change already billed or dated by an audit record")
    # the state before the record: the rows before it, and the settled ones of the same
    # second (the opening, records read before it); another row of that second may be
    # this record's own change, seen by a read or made from Odoo
    before = [r for r in rows if r.at < observed.at
              or (r.at == observed.at and (r.fixed or r.source == AUDIT_RECORD))]  # fmt: skip
    prior = before[-1].state if before else rows[0].old
    if prior is None:
        return Skip("not after the history's opening")
    new = State.from_values(observed.values, prior)
    if new.same(prior):
        return Skip("no change of quantity, status or term at that time")
    tail = rows[start:]
    match = next((r for r in tail if r.at >= observed.at and new.same(r.state)), None)
    if match is not None:
        at = observed.at
        order = [r if r is not match else dataclasses.replace(r, at=at) for r in rows]
        return Enrich(match.id, at, _rechain(_ordered(order)))
    kind = kind_of(prior, new)
    previous = before[-1].id if before else None
    inserted = Row(0, observed.at, new, prior, kind, AUDIT_RECORD, observed.ref, True)
    order = sorted([*rows, inserted], key=lambda r: (r.at, r.id if r.id else -1))
    rechain = _rechain(order)
    rechain.pop(0, None)
    return Insert(kind, observed.at, prior, new, key(previous, new), rechain)


def _rechain(order):
    """{row id: (kind, old state)} of the unfixed rows whose old state is no longer the
    state before them in ``order``."""
    updates = {}
    previous = None
    for row in order:
        settled = row.fixed or row.source == AUDIT_RECORD
        if previous is not None and not settled and (row.old is None or not row.old.same(previous)):
            updates[row.id] = (kind_of(previous, row.state) or row.kind, previous)
        previous = row.state
    return updates


def audit_observations(records):
    """[(customer id, subscription id, Observed)] of Partner Center audit records that
    hold a subscription as it became (``resourceNewValue``), oldest first; records
    without one, or without a readable ``operationDate``, are left out."""
    found = []
    for record in records or []:
        if not isinstance(record, dict):
            continue
        if str(record.get("resourceType") or "").lower() != "subscription":
            continue
        when = parse_datetime(record.get("operationDate"))
        try:
            value = json.loads(record.get("resourceNewValue") or "null")
        except (TypeError, ValueError):
            value = None
        customer = record.get("customerId")
        if when is None or not isinstance(value, dict) or not isinstance(customer, str):
            continue
        sub_id = value.get("id")
        if not isinstance(sub_id, str) or not sub_id:
            continue
        found.append((
            customer.strip().lower(), sub_id.strip().lower(),
            # to the second, as Odoo keeps times (a change made from Odoo is dated by
            # the second Partner Center answered, its record within that second)
            Observed(value, when.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0),
                     AUDIT_RECORD, audit_record_id(record)),
        ))  # fmt: skip
    found.sort(key=lambda item: item[2].at)
    return found


def audit_record_id(record):
    """The audit record's id: Partner Center's own when it sends one, else a digest of
    what identifies the record (the same record read twice gives the same id)."""
    own = record.get("id")
    if isinstance(own, str) and own:
        return own[:100]
    text = json.dumps(
        [record.get(k) for k in ("customerId", "operationDate", "operationType",
                                 "resourceNewValue", "userPrincipalName")],
        default=str,
    )  # fmt: skip
    return "digest:" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
