# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""ORM-aware orchestration of the syncs (not models): the binding base's one
create/update/archive routine (binding.py) and the user import built on it (users.py,
with what it reads once per tenant in user_context.py). Models call them; they call
Microsoft through microsoft/ and decide with the plain rules of sync/.
"""
