"""Typed Microsoft errors and what they mean for an MSP, in plain words.

``explain(error)`` returns the likely cause and the fix; buttons show it in a
``UserError``, scheduled runs store it on the run, the tenant and the chatter. The texts
here are the core's; an add-on explains its own calls' failures through :func:`register`.
"""

import re
from dataclasses import dataclass

_AADSTS = re.compile(r"AADSTS(\d+)")
# ids and times that change on every call, in Microsoft's texts and in ours
_VOLATILE = re.compile(
    r"(Trace ID|Correlation ID|Timestamp|Correlation id|Request id|Client request id|Date)"
    r"\s*:\s*[^\n]*?(?=\s+(?:Trace ID|Correlation ID|Timestamp)\b|\n|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Explanation:
    title: str
    cause: str
    fix: str


class MicrosoftError(Exception):
    """A call to Microsoft failed. ``message`` is Microsoft's own text (no secrets)."""

    def __init__(
        self,
        message,
        *,
        service=None,
        status=None,
        code=None,
        aadsts=None,
        correlation_id=None,
        request_id=None,
        retry_after=None,
        tenant=None,
        trace=(),
        page=None,
    ):
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.code = code
        if aadsts is None and message:
            found = _AADSTS.search(message)
            aadsts = int(found.group(1)) if found else None
        self.aadsts = aadsts
        self.correlation_id = correlation_id
        self.request_id = request_id
        self.retry_after = retry_after
        self.tenant = tenant
        self.trace = tuple(trace or ())  # (label, value): ids Microsoft can look up
        self.page = page  # which page of a list failed (from 1), when a list was read
        self.original = None  # the error as raised, when this one wraps it (see wrapping)

    @classmethod
    def wrapping(cls, error):
        """``error`` as a ``cls`` (an add-on's own kind, explained by its entry in the
        table, see :func:`register`): the same answer and ids, ``original`` the error as
        raised."""
        wrapped = cls(
            error.message, service=error.service, status=error.status, code=error.code,
            aadsts=error.aadsts, correlation_id=error.correlation_id,
            request_id=error.request_id, retry_after=error.retry_after, tenant=error.tenant,
            trace=error.trace, page=error.page,
        )  # fmt: skip
        wrapped.original = error
        return wrapped

    @property
    def explanation(self):
        return explain(self)

    def user_message(self):
        """Cause and fix first, then Microsoft's words and the ids support will ask for."""
        expl = self.explanation
        lines = [expl.title, f"Likely cause: {expl.cause}", f"How to fix it: {expl.fix}"]
        details = []
        if self.status:
            details.append(f"HTTP {self.status}")
        if self.code:
            details.append(str(self.code))
        head = f" ({', '.join(details)})" if details else ""
        lines.append(f"Microsoft's answer{head}: {self.message}")
        if self.correlation_id:
            lines.append(f"Correlation id: {self.correlation_id}")
        lines.extend(f"{label}: {value}" for label, value in self.trace)
        return "\n".join(lines)

    def __str__(self):
        return self.message


class TransportError(MicrosoftError):
    """No HTTP answer: DNS, TLS, refused or reset connection, timeout."""


class HostNotAllowedError(MicrosoftError):
    """A URL outside the connection's endpoints was about to be called."""


class ThrottledError(MicrosoftError):
    """429 answers kept coming after the allowed waiting time."""


class AuthError(MicrosoftError):
    """The token endpoint refused (an AADSTS error)."""


class IncompleteReadError(MicrosoftError):
    """A 200 answer that is not a whole page, or a read that did not reach the list's
    final page (Graph's or Partner Center's): nothing may be concluded (archived,
    marked removed, downgraded) from it."""


class OutOfTime(Exception):
    """A call could not finish in the time the running cron call has left (its
    worker would be stopped first): the step pauses and resumes in the next call.
    Not a MicrosoftError: nothing failed, nothing is recorded as an error."""


# -- explanations -------------------------------------------------------------

_CONSENT_FIX = (
    "Open the tenant in Odoo and click 'Grant admin consent', signing in as a "
    "Global Administrator of that customer (through GDAP). Check the GDAP relationship "
    "is active and its security group holds the needed roles."
)

_RISKY = Explanation(
    "Microsoft blocked the account as risky.",
    "Entra ID Protection flagged the account that authorised Partner Center (the "
    "delegated administrator) as risky (a leaked password, an unfamiliar sign-in), and "
    "a risk policy now blocks it in customer tenants and in Partner Center.",
    "In your partner tenant's Entra admin centre, open Protection > Risky users, "
    "investigate the account, then reset its password or dismiss the risk; click "
    "'Authorize' on the connection again afterwards.",
)

AADSTS_EXPLANATIONS = {
    7000229: Explanation(
        "The GDAP app is not set up in this customer's tenant.",
        "Admin consent was never granted (or was removed) in this tenant, so Microsoft has "
        "no service principal for the app there.",
        _CONSENT_FIX,
    ),
    700016: Explanation(
        "Microsoft does not know this app in that tenant.",
        "The client id is wrong, the app was deleted, or admin consent was not granted in "
        "the customer tenant.",
        "Compare the client id on the connection with the app registration in Entra ID; "
        "for a customer tenant, grant admin consent again. " + _CONSENT_FIX,
    ),
    7000119: Explanation(
        "The app refuses to be used by this tenant.",
        "The multi-tenant app registration only accepts a list of tenants, and this "
        "customer's tenant is not on it.",
        "In Entra ID, open the GDAP app registration, Authentication, supported account "
        "types: allow all organisations, or add this tenant, then grant consent again.",
    ),
    50011: Explanation(
        "The redirect URI does not match the app registration.",
        "Microsoft only sends the user back to redirect URIs registered on the app, and "
        "the one Odoo sent is not among them (often http versus https, or a changed "
        "web.base.url).",
        "Copy the redirect URI shown on the connection into the app registration "
        "(Authentication, Web platform), save, and authorise again.",
    ),
    7000215: Explanation(
        "The client secret is wrong.",
        "The secret stored on the connection is not a valid secret of this app: often the "
        "secret's id was copied instead of its value.",
        "Create a new client secret in the app registration, copy its Value (not the "
        "Secret ID) into the connection, and authorise again.",
    ),
    7000222: Explanation(
        "The client secret has expired.",
        "App secrets have an end date; this one has passed.",
        "Create a new client secret in the app registration, paste its value into the "
        "connection, and authorise again. Note the new end date in your calendar.",
    ),
    700082: Explanation(
        "The Partner Center sign-in has expired.",
        "The stored refresh token was not used for 90 days, or was revoked by a password "
        "change, MFA reset or conditional access.",
        "Open the connection and click 'Authorize' again with a Partner Center admin "
        "account. Keep the integrator enabled so the token stays in use.",
    ),
    70043: Explanation(
        "Conditional access ended the Partner Center session.",
        "A sign-in frequency policy made the stored refresh token expire.",
        "Click 'Authorize' on the connection again; ask your security admin to exclude "
        "the integration account from short sign-in frequency policies.",
    ),
    700003: Explanation(
        "The device or session behind the sign-in was removed.",
        "The refresh token belongs to a session Entra ID no longer trusts.",
        "Click 'Authorize' on the connection again.",
    ),
    9002313: Explanation(
        "The Partner Center sign-in is no longer valid.",
        "Microsoft rejected the stored refresh token as malformed or invalid (it was "
        "revoked, belongs to another app, or was damaged).",
        "Open the connection and click 'Authorize' again with a Partner Center admin account.",
    ),
    65001: Explanation(
        "Consent is missing for the requested permissions.",
        "No administrator has consented to the app's permissions in this tenant, or a "
        "permission was added to the app after consent was given.",
        _CONSENT_FIX,
    ),
    50076: Explanation(
        "Multi-factor authentication is required.",
        "A conditional access policy asks for MFA, which a background sync cannot do.",
        "Click 'Authorize' on the connection and complete MFA; the stored token then "
        "carries the MFA claim.",
    ),
    50078: Explanation(
        "The MFA proof has expired.",
        "The MFA claim in the stored token is too old for a conditional access policy.",
        "Click 'Authorize' on the connection again and complete MFA.",
    ),
    90002: Explanation(
        "Microsoft cannot find this tenant.",
        "The tenant id or domain is mistyped, or the tenant was deleted.",
        "Check the tenant id (a GUID from Entra ID, Overview) on the connection or tenant.",
    ),
    65004: Explanation(
        "Admin consent was declined.",
        "The person signing in cancelled the consent screen.",
        "Click 'Grant admin consent' again and accept the permissions.",
    ),
    50020: Explanation(
        "Your account cannot sign in to this customer's tenant.",
        "Partner accounts reach a customer tenant only through an active GDAP (or DAP) "
        "relationship, and this tenant has none that covers the account.",
        "Ask the customer to approve a GDAP relationship whose roles include Cloud "
        "Application Administrator or Global Administrator, or have one of the "
        "customer's own Global Administrators grant the consent.",
    ),
    70011: Explanation(
        "Microsoft refused the permissions the app asked for (invalid scope).",
        "The scope requested is not one Microsoft knows for that service, or an app-only "
        "call asked for named permissions instead of '/.default' (often a wrong "
        "Partner Center, Graph or pricing endpoint on the connection).",
        "Check the connection's endpoints are Microsoft's (or the sandbox's) defaults and "
        "that the app registration has the API permissions listed in the guide, then "
        "authorise again.",
    ),
    530034: _RISKY,
    53011: _RISKY,
    90094: Explanation(
        "Only an administrator can grant this consent.",
        "The account used has no admin role in the customer tenant.",
        "Sign in with a Global Administrator of the customer (or a GDAP role that may "
        "consent to applications).",
    ),
}

_THROTTLED = Explanation(
    "Microsoft is throttling requests.",
    "Too many calls were made to this service in a short time (limits apply per partner "
    "and per customer tenant).",
    "Nothing to change: the next run continues. If it keeps happening, sync fewer "
    "modules at once or lengthen the integrator's interval.",
)
_TRANSPORT = Explanation(
    "Microsoft could not be reached.",
    "The network, a proxy or a firewall blocked the call, the TLS certificate was not "
    "trusted, or the service timed out.",
    "Check that the Odoo server reaches the endpoints shown on the connection (and, "
    "behind a proxy, the CA bundle setting), then run the sync again.",
)
_HOST = Explanation(
    "A call to an unexpected host was blocked.",
    "Microsoft (or a misconfiguration) pointed Odoo at a host that is not one of the "
    "connection's endpoints.",
    "Check the endpoint settings on the connection; only system administrators can change them.",
)
_FORBIDDEN_GRAPH = Explanation(
    "The app may not read this data in the customer's tenant.",
    "The GDAP app lacks an application permission, admin consent predates it, or the "
    "GDAP relationship's roles do not cover it.",
    "Check the app has the application (not delegated) permissions listed in the "
    "guide, grant admin consent again, and check the GDAP relationship is active with "
    "the needed roles.",
)
_FORBIDDEN_PC = Explanation(
    "Partner Center refused the request.",
    "The account that authorised the connection lacks a Partner Center role (Admin "
    "agent or Sales agent), the reseller relationship has ended, or Entra flagged the "
    "account as risky.",
    "Sign in to Partner Center with that account and open the customer list; fix its "
    "roles or risk state, then click 'Authorize' again.",
)
_UNAUTHORIZED = Explanation(
    "Microsoft did not accept the access token.",
    "The token expired, was issued for another service, or was revoked.",
    "Run the sync again; if it repeats, click 'Authorize' on the connection.",
)
_NOT_P1 = Explanation(
    "Last sign-in dates need Entra ID P1 in the customer's tenant.",
    "signInActivity is only available to tenants with a Microsoft Entra ID P1 or P2 "
    "licence (Business Premium and E3/E5 include it).",
    "Turn off 'Import last sign-in' for this tenant, or license Entra ID P1.",
)
_CONFLICT = Explanation(
    "Microsoft is busy with this subscription.",
    "A renewal or another change is in progress.",
    "Try again in a few minutes.",
)
_SERVER = Explanation(
    "Microsoft had an internal error.",
    "The service failed or was unavailable, even after retries.",
    "Run the sync again later; check the Microsoft 365 service health if it persists.",
)
_INCOMPLETE = Explanation(
    "Microsoft's answer was incomplete, so nothing was archived.",
    "Graph answered a page that was empty, had no list of items, or ended before its "
    "final page (a proxy cut the answer, or Graph had a transient fault).",
    "Nothing to do: the previous delta link was kept and the next run reads the same "
    "changes again. If it repeats, check the request log for this tenant and any proxy "
    "between Odoo and Microsoft.",
)
_INCOMPLETE_PC = Explanation(
    "Partner Center's list came back incomplete, so nothing was concluded from it.",
    "Partner Center answered a page that was empty, had no list of items, held fewer "
    "items than it announced, or ended without saying it was the last (a proxy cut the "
    "answer, or Partner Center had a transient fault). Taken as the whole list, it would "
    "have marked subscriptions removed or archived tenants that still exist.",
    "Nothing to do: no subscription was marked removed and no tenant archived or changed; "
    "the next run reads the whole list again. If it repeats, check the request log for "
    "these Partner Center calls and any proxy between Odoo and Microsoft.",
)
# what an error says when nothing more is known of it (an add-on's entry may end on it)
GENERIC = Explanation(
    "Microsoft refused the request.",
    "See Microsoft's answer below.",
    "Check the connection's settings and the request log for this call.",
)


def same_failure(old, new):
    """Whether two explained messages describe the same failure (ids and times aside).

    Syncs compare with it so that an error seen again is not written again.
    """
    return bool(old) and _VOLATILE.sub("", old) == _VOLATILE.sub("", new or "")


# errors explained by their kind alone (no answer, throttled, incomplete)
_BY_KIND = (
    (HostNotAllowedError, _HOST),
    (TransportError, _TRANSPORT),
    (ThrottledError, _THROTTLED),
    (
        IncompleteReadError,
        lambda error: _INCOMPLETE_PC if error.service == "partnercenter" else _INCOMPLETE,
    ),
)


def is_transient(error):
    """Throttling, outages and timeouts: they say nothing about consent or settings."""
    if isinstance(error, (TransportError, ThrottledError, IncompleteReadError)):
        return True
    status = getattr(error, "status", None)
    return bool(status) and (status == 429 or status >= 500)


# licence and subscription refusals, recognised by Microsoft's words (400 answers)
_BY_MESSAGE = (
    (
        "does not have any available licenses",
        Explanation(
            "No free seat of this licence.",
            "Every purchased seat of the licence is already assigned.",
            "Buy more seats (or remove the licence from someone who no longer needs it), "
            "then try again.",
        ),
    ),
    (
        "usage location",
        Explanation(
            "The user has no usage location.",
            "Microsoft assigns licences only to users whose usage location (a country) is set.",
            "Set the user's usage location in the Microsoft 365 admin centre or Entra ID, "
            "then try again.",
        ),
    ),
    (
        "does not correspond to a valid company license",
        Explanation(
            "The customer's tenant does not own this licence.",
            "The SKU is not (or no longer) among the tenant's subscribed SKUs.",
            "Run the licences sync to refresh the tenant's licences, or buy the licence.",
        ),
    ),
    (
        "cancellation window",
        Explanation(
            "Partner Center refused to remove these seats.",
            "Seats may be removed only within 7 days (168 hours) of being added.",
            "Lower the quantity at renewal instead (turn off auto-renew or schedule the "
            "renewal quantity in Partner Center).",
        ),
    ),
)


RISKY_CODES = frozenset({530034, 53011})


def is_risky(error):
    """A refusal because Entra ID Protection flagged the signed-in account: its AADSTS
    code, or Microsoft's words in a 403 without one."""
    if getattr(error, "aadsts", None) in RISKY_CODES:
        return True
    text = (getattr(error, "message", "") or "").lower()
    return getattr(error, "status", None) == 403 and ("risky" in text or "account risk" in text)


def _by_message(error):
    if error.status == 403:  # a risky account, in Microsoft's words without an AADSTS code
        return _RISKY if is_risky(error) else None
    text = (error.message or "").lower()
    return next((expl for words, expl in _BY_MESSAGE if words in text), None)


# -- the add-ons' entries -------------------------------------------------------------

# error kind -> Explanation, or a callable(error) returning one: each add-on's own
_REGISTERED = {}


def register(kind, explanation):
    """Explain every error of ``kind`` with ``explanation`` (an :class:`Explanation`, or a
    callable taking the error and returning one).

    How an add-on explains the failures of its own Microsoft calls: it defines its
    ``MicrosoftError`` subclass next to those calls, raises it (``kind.wrapping(error)``
    keeps Microsoft's answer and ids, ``original`` the error as raised) and registers it
    when its module is imported. An entry is asked before the core's texts; a callable
    may fall back to them with ``explain(error.original)``. Registering a kind again
    replaces its entry."""
    if not (isinstance(kind, type) and issubclass(kind, MicrosoftError)):
        raise TypeError(f"{kind!r} is not a MicrosoftError subclass")
    if kind.__module__ == __name__:
        raise ValueError(f"{kind.__name__} is the core's: register an add-on's own kind")
    _REGISTERED[kind] = explanation


def _by_kind(error):
    """An add-on's entry first (the most specific kind's), then the core's kinds."""
    found = next((_REGISTERED[kind] for kind in type(error).__mro__ if kind in _REGISTERED), None)
    if found is None:
        found = next((expl for kind, expl in _BY_KIND if isinstance(error, kind)), None)
    return found(error) if callable(found) else found


def explain(error):
    """The cause and fix of a :class:`MicrosoftError` (or any exception)."""
    by_kind = _by_kind(error)
    if by_kind is not None:
        return by_kind
    if not isinstance(error, MicrosoftError):
        return GENERIC
    if error.aadsts in AADSTS_EXPLANATIONS:
        return AADSTS_EXPLANATIONS[error.aadsts]
    code = (error.code or "").lower()
    if code == "invalid_scope":
        return AADSTS_EXPLANATIONS[70011]
    if code == "authentication_requestfromnonpremiumtenantorb2ctenant":
        return _NOT_P1
    status = error.status
    by_words = _by_message(error) if status in (400, 403) else None
    if by_words is not None:
        return by_words
    if status == 429:
        return _THROTTLED
    if status == 401:
        return _UNAUTHORIZED
    if status == 403:
        return _FORBIDDEN_PC if error.service == "partnercenter" else _FORBIDDEN_GRAPH
    if status == 409:
        return _CONFLICT
    if status and status >= 500:
        return _SERVER
    return GENERIC
