"""Keep secrets, tokens, codes and passwords out of logs and stored request bodies."""

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
MAX_BODY = 64 * 1024
# longer than any token or secret a body carries (a JWT is a few kB)
MARGIN = 16 * 1024

# Keys whose values never leave the process (compared case-insensitively).
SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "client_assertion",
        "assertion",
        "code",
        "code_verifier",
        "password",
        "secret",
        "sastoken",
        "sig",
        "authorization",
        "cookie",
        "set-cookie",
        "x-ms-signature",
        "session_state",
        "client_info",
    }
)

_KEYS = "|".join(re.escape(key) for key in sorted(SENSITIVE_KEYS, key=len, reverse=True))
# "key": "value"  (JSON)
_JSON_PAIR = re.compile(rf'("(?:{_KEYS})"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
# key=value  (form bodies, query strings)
_FORM_PAIR = re.compile(rf"(?<![\w-])((?:{_KEYS})=)[^&\s\"']*", re.IGNORECASE)
# Bearer / Signature credentials and bare JWTs
_BEARER = re.compile(r"\b(Bearer|Signature)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def redact_text(text, limit=MAX_BODY):
    """Mask every sensitive value in a JSON, form or free-text body, then truncate."""
    if not text:
        return text or ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    total = len(text)
    if limit and total > limit + MARGIN:
        # only what is kept is searched (a page of 999 users is ~1 MB); the margin
        # keeps whole any secret that starts before the limit, so it is still masked
        text = text[: limit + MARGIN]
    text = _JSON_PAIR.sub(rf'\1"{MASK}"', text)
    text = _FORM_PAIR.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _JWT.sub(MASK, text)
    if limit and len(text) > limit:
        text = text[:limit] + f"\n… [truncated, {total - limit} more characters]"
    return text


def redact_url(url):
    """The URL with sensitive query values masked (paths carry ids, not secrets)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (key, MASK if key.lower() in SENSITIVE_KEYS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="$'(),:=/")))
