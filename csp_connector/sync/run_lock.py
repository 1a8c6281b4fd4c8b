# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One worker syncs a connection at a time: the connection's sync lock, and what
PostgreSQL says when another transaction changed the same rows (the step runs again).

No ORM here: the lock is one SQL call on the run's cursor.
"""

import psycopg2
from psycopg2 import errors as pg_errors

LOCK_NAMESPACE = 0x0C5B  # advisory locks: (namespace, connection id)
# PostgreSQL refusing a transaction for another one's change: the step runs again
CONCURRENCY_ERRORS = (psycopg2.extensions.TransactionRollbackError, pg_errors.LockNotAvailable)


def try_lock(cr, connection_id):
    """The connection's sync lock, held until the transaction ends (commit, rollback
    or a dead connection): it cannot outlive its transaction, whatever fails."""
    cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, connection_id))
    return cr.fetchone()[0]


def is_concurrency_error(exc):
    """PostgreSQL refused the transaction for another one's concurrent change
    (serialization failure, deadlock, a lock not available)."""
    return isinstance(exc, CONCURRENCY_ERRORS)
