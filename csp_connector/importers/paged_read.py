# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The one resumable paged read of a tenant's collection (users, groups, devices).

A read goes page by page through a Graph collection or delta round and hands each
page to its importer. Every page is fed to the completeness proof
(microsoft/graph.py ReadCheck); out of time (the scheduled run's budget,
csp_sync_run.out_of_time) it stops at a page boundary and keeps where it was in the
tenant's one round store (csp.tenant ``_csp_round_*``, under the read's ``kind``),
and the next call goes on from there with the same proof. Only a read that reached
Graph's final page and passed the proof calls ``complete`` (where archives happen);
the round is dropped then.

A read that failed goes on where it stopped by default (a delta round whose link
expired is read again in full, ``read_delta``); a read whose next links do not
outlive a failure (``restart_step``) starts again from its first page after its step
failed (the round is dropped when the run records the failure).
"""

from ..microsoft.graph import ReadCheck, read_delta
from ..models.csp_sync_run import out_of_time


class PagedRead:
    """The read's loop, for an importer that has ``env`` and ``tenant``.

    The importer names its round (``kind``), the collection (``what``, for the
    proof's message) and gives the hooks: ``start(graph, link)`` -> (ReadCheck, pages)
    of a read from its first page; ``resume(state)`` its own part of a kept round
    (``{}`` when the read starts), ``state()`` that part to keep; ``apply_page(items)``
    one page's items; ``complete(graph)`` what a proven-complete read may decide
    (archives). ``new_link`` holds the delta link the round ends with.
    """

    kind = None
    what = "the list"
    restart_step = None  # the step whose failure makes the read start again
    new_link = None
    link = None

    def start(self, graph, link):
        raise NotImplementedError

    def resume(self, state):
        """The importer's part of a kept round (``{}``: a new read)."""

    def state(self):
        return {}

    def apply_page(self, items):
        raise NotImplementedError

    def complete(self, graph):
        """After the final page, proven complete: archives, links."""

    def out_of_time(self):
        return out_of_time(self.env)

    def read_round(self, graph, link=None):
        """The read (or a kept round of it) to its end or to a page boundary out of
        time. Returns True when it is complete, False when it stopped so."""
        tenant = self.tenant
        self.link = link
        resume = tenant._csp_round_get(self.kind)
        self.resume(resume)
        if resume:
            check = ReadCheck(**resume["check"])
            self.new_link = resume.get("delta_link")
            pages = graph.iter_pages(resume["next"])
        else:
            self.new_link = None
            check, pages = self.start(graph, link)
        for page in pages:
            self.apply_page(check.page(page))
            self.new_link = page.get("@odata.deltaLink") or self.new_link
            following = page.get("@odata.nextLink")
            if following and self.out_of_time():
                state = {**self.state(), "next": following, "check": check.state(),
                         "delta_link": self.new_link}  # fmt: skip
                if self.restart_step:
                    state["restart_step"] = self.restart_step
                tenant._csp_round_keep(self.kind, state)
                return False
        check.finish(self.what)
        self.complete(graph)
        tenant._csp_round_drop(self.kind)
        return True

    def read_delta(self, graph, link, expired):
        """``read_round`` of a delta round from ``link`` (None: a full round); when Graph no
        longer knows the link the round follows (410), ``expired()`` and a full round,
        once."""
        tenant = self.tenant

        def restart():
            expired()
            tenant._csp_round_drop(self.kind)

        resumed = bool(tenant._csp_round_get(self.kind))
        return read_delta(lambda link: self.read_round(graph, link), link, restart, resumed=resumed)
