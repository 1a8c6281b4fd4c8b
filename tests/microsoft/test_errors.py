import pytest

from odoo.addons.csp_connector.microsoft import errors


def test_aadsts_code_is_read_from_microsofts_message():
    error = errors.AuthError(
        "AADSTS7000229: The client application abc is missing service principal in the "
        "tenant def. Trace ID: 1",
        service="login",
    )
    assert error.aadsts == 7000229
    text = error.user_message()
    assert "Grant admin consent" in text
    assert "missing service principal" in text  # Microsoft's own words are kept


def test_every_documented_code_has_its_own_cause_and_fix():
    codes = [7000229, 700016, 7000119, 50011, 7000215, 7000222, 700082, 65001, 50076, 50078, 90002]
    explanations = {code: errors.explain(errors.AuthError(f"AADSTS{code}: x")) for code in codes}
    assert all(expl is not errors.GENERIC for expl in explanations.values())
    # secrets: wrong value and expired value need different fixes
    assert explanations[7000215] != explanations[7000222]
    assert "Value" in explanations[7000215].fix


def test_http_statuses_map_to_service_specific_advice():
    pc = errors.MicrosoftError("Forbidden", service="partnercenter", status=403)
    graph = errors.MicrosoftError(
        "Insufficient privileges", service="graph", status=403, code="Authorization_RequestDenied"
    )
    assert "Partner Center" in errors.explain(pc).cause
    assert "GDAP" in errors.explain(graph).fix
    throttled = errors.MicrosoftError("Too many", service="graph", status=429)
    assert errors.explain(throttled) == errors.explain(errors.ThrottledError("x"))
    not_p1 = errors.MicrosoftError(
        "Neither tenant is B2C or tenant doesn't have premium license",
        service="graph",
        status=403,
        code="Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    )
    assert "P1" in errors.explain(not_p1).title


def test_transport_and_host_errors_are_explained():
    assert "reached" in errors.explain(errors.TransportError("ConnectionError")).title
    assert "host" in errors.explain(errors.HostNotAllowedError("x")).title
    assert errors.explain(ValueError("boom")) is errors.GENERIC


def test_same_failure_ignores_ids_and_times():
    first = errors.AuthError(
        "AADSTS7000229: missing service principal. Trace ID: 1111 Correlation ID: 2222 "
        "Timestamp: 2026-11-27 03:35:04Z",
        correlation_id="aaaa",
    ).user_message()
    again = errors.AuthError(
        "AADSTS7000229: missing service principal. Trace ID: 3333 Correlation ID: 4444 "
        "Timestamp: 2026-11-28 09:00:00Z",
        correlation_id="bbbb",
    ).user_message()
    other = errors.AuthError("AADSTS7000222: secret expired. Trace ID: 5").user_message()
    assert first != again
    assert errors.same_failure(first, again)
    assert not errors.same_failure(first, other)
    assert not errors.same_failure(False, first)


def test_licence_refusals_are_explained_by_microsofts_words():
    def explained(message, status=400, service="graph"):
        return errors.explain(errors.MicrosoftError(message, service=service, status=status))

    no_seat = explained("Subscription with SKU x does not have any available licenses.")
    assert "No free seat" in no_seat.title
    location = explained("License assignment cannot be done for user with invalid usage location.")
    assert "usage location" in location.fix
    window = explained(
        "Quantity decrease of 2 is not allowed: only 0 license(s) are still inside the "
        "cancellation window.",
        service="partnercenter",
    )
    assert "7 days" in window.cause
    # the same words in another status are not taken for them
    assert explained("no usage location here", status=500) is errors._SERVER


def test_a_risky_sign_in_is_explained_whatever_the_service_or_answer():
    risky = (
        errors.MicrosoftError(
            "AADSTS530034: A delegated administrator was blocked from accessing the tenant "
            "due to account risk.",
            service="partnercenter",
            status=403,
        ),
        errors.MicrosoftError(
            "AADSTS53011: User blocked due to risk on home tenant.", service="graph", status=403
        ),
        errors.AuthError("AADSTS53011: User blocked due to risk on home tenant.", status=400),
        errors.MicrosoftError("The user is flagged as risky.", service="partnercenter", status=403),
    )
    for error in risky:
        assert errors.is_risky(error)
        assert "Risky users" in errors.explain(error).fix
    # a 403 for missing roles is not taken for it, nor a risk word in another status
    roles = errors.MicrosoftError("Insufficient privileges to complete the operation.",
                                  service="graph", status=403)  # fmt: skip
    assert not errors.is_risky(roles)
    assert errors.explain(roles) is errors._FORBIDDEN_GRAPH
    assert not errors.is_risky(errors.MicrosoftError("risky", service="graph", status=500))


def test_an_add_on_explains_its_own_kind_through_the_table(monkeypatch):
    """An add-on's error kind wraps the error as raised and is explained by the entry the
    add-on registered (the most specific kind's), asked before the core's texts; the
    core's kinds are not an add-on's to register."""
    monkeypatch.setattr(errors, "_REGISTERED", {})

    class ReportError(errors.MicrosoftError):
        pass

    class LateReportError(ReportError):
        pass

    own = errors.Explanation("The report is not ready.", "It is being built.", "Wait.")
    errors.register(ReportError, lambda error: own if error.status == 404 else
                    errors.explain(error.original))  # fmt: skip
    late = errors.Explanation("The report is late.", "Microsoft is slow.", "Wait longer.")
    errors.register(LateReportError, late)

    refused = errors.MicrosoftError("Not found", service="graph", status=404, request_id="r")
    wrapped = ReportError.wrapping(refused)
    assert (wrapped.status, wrapped.request_id, wrapped.original) == (404, "r", refused)
    assert wrapped.user_message().startswith("The report is not ready.")
    assert "Not found" in wrapped.user_message()  # Microsoft's words are kept
    throttled = ReportError.wrapping(errors.ThrottledError("x", service="graph", status=429))
    assert errors.explain(throttled) is errors._THROTTLED  # the core's, through the original
    assert errors.explain(LateReportError("x", status=404)) is late
    # the error as raised keeps the core's words
    assert errors.explain(refused) is errors.GENERIC
    for core_kind in (errors.MicrosoftError, errors.IncompleteReadError):
        with pytest.raises(ValueError):
            errors.register(core_kind, own)
    with pytest.raises(TypeError):
        errors.register(ValueError, own)
