# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""ORM-aware orchestration of the syncs (not models): the binding base's one
create/update/archive routine (binding.py), the one resumable paged read
(paged_read.py), and the reads built on them: users (users.py, with what it reads once
per tenant in user_context.py) and groups (groups.py). Models call them; they call
Microsoft through microsoft/ and decide with the plain rules of sync/.
"""
