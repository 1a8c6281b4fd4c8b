"""The change ledger's decisions: what changed, which kind, the key, and where an audit
record, a webhook's read or a full read goes among the changes known."""

import datetime as dt
import json

from odoo.addons.csp_connector.sync import ledger

T0 = dt.datetime(2026, 6, 3, 8, 0)
START = dt.datetime(2026, 6, 3)


def state(quantity, status="active", start=START, cycle="monthly", term="P1Y"):
    return ledger.State(quantity, status, start, cycle, term)


def row(row_id, at, new, old=None, kind=ledger.QUANTITY, source=ledger.READ, ref=None,
        fixed=False):  # fmt: skip
    return ledger.Row(row_id, at, new, old, kind, source, ref, fixed)


def opening(quantity=2):
    return row(1, T0, state(quantity), None, ledger.PURCHASE, fixed=True)


def seen(quantity, at, source=ledger.READ, ref=None):
    return ledger.Observed({"quantity": quantity}, at, source, ref)


def test_kinds_of_change():
    two = state(2)
    assert ledger.kind_of(two, state(5)) == ledger.QUANTITY
    assert ledger.kind_of(two, state(2, "deleted")) == ledger.CANCEL
    assert ledger.kind_of(state(2, "suspended"), two) == ledger.REACTIVATE
    assert ledger.kind_of(two, state(2, "suspended")) == ledger.STATUS
    assert ledger.kind_of(two, state(3, start=START + dt.timedelta(days=365))) == ledger.RENEWAL
    assert ledger.kind_of(two, state(2, cycle="annual")) == ledger.BILLING_CYCLE
    assert ledger.kind_of(two, state(2, term="P3Y")) == ledger.TERM
    # the same day's start written with another time is the same term
    assert ledger.kind_of(two, state(2, start=START + dt.timedelta(hours=9))) is None
    # first seen: a purchase when created with its term, else a subscription bought before
    assert ledger.kind_of(None, two, creation_date=START) == ledger.PURCHASE
    assert ledger.kind_of(None, two, creation_date=START - dt.timedelta(days=40)) == (
        ledger.FIRST_SEEN
    )
    assert ledger.kind_of(None, two) == ledger.FIRST_SEEN


def test_a_value_not_sent_is_kept_from_the_state_before():
    base = state(2)
    new = ledger.State.from_values({"quantity": 4}, base)
    assert (new.quantity, new.status, new.term_start) == (4, "active", START)
    read = ledger.State.from_values({"start_date": "2026-07-03T00:00:00Z", "status": "active"})
    assert (read.term_start, read.status, read.quantity) == (dt.datetime(2026, 7, 3), "active",
                                                             None)  # fmt: skip
    assert read.same(ledger.State(None, "Active", dt.datetime(2026, 7, 3, 9)))


def test_the_first_read_opens_the_ledger_and_the_same_state_again_is_no_change():
    first = ledger.place([], ledger.Observed(
        {"quantity": 2, "status": "active", "start_date": START}, T0, ledger.READ,
        creation_date=START))  # fmt: skip
    assert isinstance(first, ledger.Insert)
    assert (first.kind, first.at, first.old) == (ledger.PURCHASE, START, None)
    rows = [opening()]
    again = ledger.place(rows, seen(2, T0 + dt.timedelta(hours=1)))
    assert isinstance(again, ledger.Skip)
    change = ledger.place(rows, seen(5, T0 + dt.timedelta(hours=2)))
    assert (change.kind, change.at, change.old.quantity, change.new.quantity) == (
        ledger.QUANTITY, T0 + dt.timedelta(hours=2), 2, 5)  # fmt: skip
    assert change.key == f"1>{state(5).digest()}"


def test_a_webhook_the_audit_record_and_the_next_read_make_one_row():
    rows = [opening()]
    webhook_at = T0 + dt.timedelta(hours=3)
    hooked = ledger.place(rows, seen(5, webhook_at, ledger.WEBHOOK, "event-1"))
    assert isinstance(hooked, ledger.Insert)
    rows.append(row(2, hooked.at, hooked.new, hooked.old, source=ledger.WEBHOOK, ref="event-1"))
    # the audit record (dated a little before the event reached us) takes that row
    audited_at = webhook_at - dt.timedelta(minutes=2)
    audit = ledger.place(rows, seen(5, audited_at, ledger.AUDIT_RECORD, "audit-1"))
    assert audit == ledger.Enrich(2, audited_at, {})
    rows[1] = row(2, audited_at, state(5), state(2), source=ledger.AUDIT_RECORD, ref="audit-1")
    # the same record read again (the audit step's overlap), then the next full read
    assert isinstance(ledger.place(rows, seen(5, audited_at, ledger.AUDIT_RECORD, "audit-1")),
                      ledger.Skip)  # fmt: skip
    assert isinstance(ledger.place(rows, seen(5, T0 + dt.timedelta(days=1))), ledger.Skip)


def test_two_changes_between_two_reads_are_two_rows_at_their_own_times():
    t1, t2, t3 = (T0 + dt.timedelta(days=d) for d in (1, 2, 3))
    # the audit step runs first: each record its own change, in order
    rows = [opening()]
    first = ledger.place(rows, seen(5, t1, ledger.AUDIT_RECORD, "a1"))
    assert (first.kind, first.at, first.old.quantity, first.new.quantity) == (
        ledger.QUANTITY, t1, 2, 5)  # fmt: skip
    rows.append(row(2, t1, first.new, first.old, source=ledger.AUDIT_RECORD, ref="a1"))
    second = ledger.place(rows, seen(7, t2, ledger.AUDIT_RECORD, "a2"))
    assert (second.at, second.old.quantity, second.new.quantity) == (t2, 5, 7)
    rows.append(row(3, t2, second.new, second.old, source=ledger.AUDIT_RECORD, ref="a2"))
    assert isinstance(ledger.place(rows, seen(7, t3)), ledger.Skip)  # the read after


def test_audit_records_after_a_read_that_saw_only_the_net_change():
    t1, t2, t3 = (T0 + dt.timedelta(days=d) for d in (1, 2, 3))
    rows = [opening(), row(2, t3, state(7), state(2))]  # the read saw 2 -> 7
    first = ledger.place(rows, seen(5, t1, ledger.AUDIT_RECORD, "a1"))
    assert isinstance(first, ledger.Insert)
    assert (first.at, first.old.quantity, first.new.quantity) == (t1, 2, 5)
    assert first.rechain == {2: (ledger.QUANTITY, state(5))}  # the read's row: 5 -> 7
    rows = [rows[0], row(3, t1, state(5), state(2), source=ledger.AUDIT_RECORD, ref="a1"),
            row(2, t3, state(7), state(5))]  # fmt: skip
    second = ledger.place(rows, seen(7, t2, ledger.AUDIT_RECORD, "a2"))
    assert second == ledger.Enrich(2, t2, {})


def test_an_audit_record_older_than_a_settled_change_changes_nothing():
    t1, t2 = T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2)
    billed = row(2, t2, state(7), state(2), fixed=True)
    decision = ledger.place([opening(), billed], seen(5, t1, ledger.AUDIT_RECORD, "a1"))
    assert isinstance(decision, ledger.Skip)
    # a record of something billing does not follow (auto-renew, a name): no change
    same = ledger.place([opening()], seen(2, t1, ledger.AUDIT_RECORD, "a2"))
    assert isinstance(same, ledger.Skip)
    # a record of the change a row of the same second holds (made from Odoo): that row
    made = row(2, t1, state(5), state(2), source=ledger.ACTION)
    assert ledger.place([opening(), made], seen(5, t1, ledger.AUDIT_RECORD, "a4")) == (
        ledger.Enrich(2, t1, {}))  # fmt: skip
    # two records of the same second as the opening, in order: two changes after it
    first = ledger.place([opening()], seen(5, T0, ledger.AUDIT_RECORD, "b1"))
    assert (first.old.quantity, first.new.quantity) == (2, 5)
    after = [opening(), row(2, T0, state(5), state(2), source=ledger.AUDIT_RECORD, ref="b1")]
    second = ledger.place(after, seen(7, T0, ledger.AUDIT_RECORD, "b2"))
    assert (second.old.quantity, second.new.quantity) == (5, 7)
    # a subscription not read yet: its read opens the ledger
    assert isinstance(ledger.place([], seen(2, t1, ledger.AUDIT_RECORD, "a3")), ledger.Skip)


def test_renewal_and_purchase_take_effect_at_their_terms_start():
    renewed = START + dt.timedelta(days=365)
    decision = ledger.place(
        [opening()],
        ledger.Observed(
            {"quantity": 3, "start_date": renewed}, renewed + dt.timedelta(hours=5), ledger.READ
        ),
    )
    assert (decision.kind, decision.at, decision.new.quantity) == (ledger.RENEWAL, renewed, 3)


def test_audit_observations_in_order_with_their_ids():
    def record(when, quantity, **extra):
        value = {"id": "SUB-1", "quantity": quantity, "status": "active"}
        return {"customerId": "CUST", "resourceType": "Subscription", "operationDate": when,
                "operationType": "UpdateSubscription", "resourceNewValue": json.dumps(value),
                **extra}  # fmt: skip

    records = [
        record("2026-06-05T10:00:00.1234567Z", 7),
        record("2026-06-04T10:00:00Z", 5, id="pc-42"),
        {"resourceType": "Order", "customerId": "CUST"},
        record("not a date", 9),
        {**record("2026-06-04T11:00:00Z", 1), "resourceNewValue": "{broken"},
    ]
    found = ledger.audit_observations(records)
    assert [(c, s, o.values["quantity"], o.at) for c, s, o in found] == [
        ("cust", "sub-1", 5, dt.datetime(2026, 6, 4, 10)),
        ("cust", "sub-1", 7, dt.datetime(2026, 6, 5, 10)),  # to the second
    ]
    assert found[0][2].ref == "pc-42"
    assert found[1][2].ref.startswith("digest:")
    assert ledger.audit_observations(records[:1])[0][2].ref == found[1][2].ref  # stable
