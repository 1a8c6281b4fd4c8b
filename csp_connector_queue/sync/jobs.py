# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What the job queue decides, as plain data (no ORM): which tenant's steps go in
which lane, whether a failure is worth another try, and after how long.

A connection's run has at most `capacity` lanes: each lane is a chain of jobs (one
per tenant and step, a tenant's steps in their order), the lanes run side by side,
so at most `capacity` jobs of one connection call Microsoft at once (its limits are
per app and tenant) whatever the job runner's channels allow.
"""

from odoo.addons.csp_connector.microsoft import errors

DEFAULT_CAPACITY = 4
MAX_CAPACITY = 64
MAX_TRIES = 5  # a job's tries before its failure is written on the run line
BACKOFF_FIRST = 30  # seconds before the second try, doubled for each one after
BACKOFF_MAX = 600
RETRY_AFTER_MAX = 3600  # a Retry-After longer than this is not waited for as such
LOCKED_RETRY = 20  # seconds before a job whose step another worker holds looks again
TRANSIENT_STATUSES = (500, 502, 503, 504)


def capacity_of(value):
    """A connection's number of lanes: its setting, within 1..MAX_CAPACITY."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return DEFAULT_CAPACITY
    return max(1, min(value, MAX_CAPACITY))


def lanes(pending, capacity):
    """[[(tenant id, step code), ...] per lane] for `pending` ([(tenant id, [codes])],
    in the run's order): a tenant's steps stay together and in order in one lane,
    tenants are dealt to the lanes in turn; no empty lane."""
    count = min(capacity_of(capacity), len(pending))
    dealt = [[] for _ in range(count)]
    for index, (tenant_id, codes) in enumerate(pending):
        dealt[index % count].extend((tenant_id, code) for code in codes)
    return dealt


def is_transient(error):
    """Whether another try later may succeed: Microsoft throttling, no answer at all,
    or a server error (500, 502, 503, 504). A refusal (consent, rights, a bad request)
    is not: it is explained at once."""
    if isinstance(error, errors.ThrottledError | errors.TransportError):
        return True
    return isinstance(error, errors.MicrosoftError) and error.status in TRANSIENT_STATUSES


def retry_seconds(error, tries):
    """Seconds before the next try after `tries` tries: Microsoft's Retry-After when it
    gave one, else an exponential backoff (30 s, 60 s, 120 s ... at most 10 minutes)."""
    retry_after = getattr(error, "retry_after", None)
    try:
        seconds = float(retry_after) if retry_after not in (None, "") else None
    except (TypeError, ValueError):
        seconds = None
    if seconds is not None and seconds >= 0:
        return int(min(max(seconds, 1), RETRY_AFTER_MAX))
    return int(min(BACKOFF_FIRST * 2 ** max(tries - 1, 0), BACKOFF_MAX))


def channel_name(connection_id):
    """The job runner's channel of a connection's jobs: a child of root.csp, so that
    `[queue_job] channels` can give all connections (root.csp) or one of them a
    capacity; an unconfigured child runs in its parent's."""
    return f"root.csp.connection_{connection_id}"
