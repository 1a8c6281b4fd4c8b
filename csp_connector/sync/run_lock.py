# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One worker syncs a connection at a time: the connection's sync lock, and what
PostgreSQL says when another transaction changed the same rows (the step runs again).

No ORM here: the lock is one SQL call on the run's cursor.
"""

import zlib

import psycopg2
from psycopg2 import errors as pg_errors

LOCK_NAMESPACE = 0x0C5B  # advisory locks: (namespace, connection id)
# PostgreSQL refusing a transaction for another one's change: the step runs again
CONCURRENCY_ERRORS = (psycopg2.extensions.TransactionRollbackError, pg_errors.LockNotAvailable)


def try_lock(cr, key, namespace=LOCK_NAMESPACE):
    """The connection's sync lock (`key`: its id), held until the transaction ends
    (commit, rollback or a dead connection): it cannot outlive its transaction,
    whatever fails. Another `namespace` (a 32-bit int, see step_namespace) locks
    something else the same way, e.g. one tenant's step (`key`: the tenant's id)."""
    cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (namespace, key))
    return cr.fetchone()[0]


def step_namespace(code):
    """The lock namespace of a step's code (a signed 32-bit int, never the connection
    lock's): ``try_lock(cr, tenant.id, step_namespace(code))`` is the lock of that
    tenant's step, whatever worker or server holds it."""
    value = zlib.crc32(f"csp-step:{code}".encode())
    value = value - (1 << 32) if value >= 1 << 31 else value
    return value if value != LOCK_NAMESPACE else value + 1


def is_concurrency_error(exc):
    """PostgreSQL refused the transaction for another one's concurrent change
    (serialization failure, deadlock, a lock not available)."""
    return isinstance(exc, CONCURRENCY_ERRORS)
