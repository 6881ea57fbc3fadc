"""Who may call what: the one table mapping every API route to its access policy.

`routing.ApiRoute` looks its route up here when the route is declared; a route missing from the
table fails app creation (fail closed), so no route can ship without a decided policy.

Keys are (method, path) with the path relative to the API root (`/api/v1` and its `/api` alias).
"""

from __future__ import annotations

import dataclasses
import enum
import re

from prorata.http.tenancy import ROLE_RANK, Role


class Idempotency(enum.Enum):
    none = "none"  # safe methods
    optional = "optional"  # honoured when sent
    required = "required"  # money-moving: refused without a key


class RateTier(enum.Enum):
    public = "public"  # unauthenticated routes, per client IP
    api = "api"  # per API key
    heavy = "heavy"  # imports, rendering: per organisation, on top of `api`


# Ranks for "least role allowed": an LP user (`investor`) ranks below `viewer` and sees only its
# own investor's data on the routes it may call.


@dataclasses.dataclass(frozen=True)
class RoutePolicy:
    least_role: Role | None  # None: public, no authentication
    idempotency: Idempotency = Idempotency.optional
    tier: RateTier = RateTier.api
    # A file upload: the body is streamed (never buffered), bounded by PRORATA_MAX_UPLOAD_BYTES
    # instead of the JSON limit, and fingerprinted for idempotency by the file's SHA-256.
    upload: bool = False
    # The response field that carries a secret shown once (a new API key, a webhook's signing
    # secret): the idempotency record keeps the response without it.
    shown_once: str | None = None

    @property
    def public(self) -> bool:
        return self.least_role is None

    def allows(self, role: Role) -> bool:
        return self.least_role is not None and ROLE_RANK[role] >= ROLE_RANK[self.least_role]


def _public() -> RoutePolicy:
    return RoutePolicy(least_role=None, idempotency=Idempotency.none, tier=RateTier.public)


def _read(role: Role) -> RoutePolicy:
    return RoutePolicy(least_role=role, idempotency=Idempotency.none)


def _write(
    role: Role, *, money: bool = False, heavy: bool = False, shown_once: str | None = None
) -> RoutePolicy:
    return RoutePolicy(
        least_role=role,
        idempotency=Idempotency.required if money else Idempotency.optional,
        tier=RateTier.heavy if heavy else RateTier.api,
        shown_once=shown_once,
    )


def _upload(role: Role) -> RoutePolicy:
    return RoutePolicy(least_role=role, tier=RateTier.heavy, upload=True)


ROUTES: dict[tuple[str, str], RoutePolicy] = {
    # Public, on purpose: probes must work without credentials (plus /openapi.json and /docs).
    ("GET", "/system/health"): _public(),
    ("GET", "/system/ready"): _public(),
    # Identity
    ("GET", "/me"): _read(Role.investor),
    ("GET", "/users"): _read(Role.admin),
    ("POST", "/users"): _write(Role.admin),
    ("GET", "/users/{user_id}"): _read(Role.admin),
    ("PATCH", "/users/{user_id}"): _write(Role.admin),
    ("DELETE", "/users/{user_id}"): _write(Role.admin),
    ("POST", "/users/{user_id}/api-keys"): _write(Role.admin, shown_once="api_key"),
    ("GET", "/org"): _read(Role.investor),
    ("PATCH", "/org"): _write(Role.admin),
    ("PUT", "/org/logo"): _write(Role.admin),
    ("GET", "/org/logo"): _read(Role.investor),
    ("DELETE", "/org/logo"): _write(Role.admin),
    ("POST", "/invitations"): _write(Role.admin),
    ("GET", "/invitations"): _read(Role.admin),
    ("DELETE", "/invitations/{invitation_id}"): _write(Role.admin),
    ("GET", "/api-keys"): _read(Role.investor),
    ("POST", "/api-keys"): _write(Role.investor, shown_once="api_key"),
    ("DELETE", "/api-keys/{key_id}"): _write(Role.investor),
    # Fund register
    ("POST", "/funds"): _write(Role.manager),
    ("GET", "/funds"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}"): _read(Role.viewer),
    ("PATCH", "/funds/{fund_id}"): _write(Role.manager),
    ("POST", "/funds/{fund_id}/commitments"): _write(Role.manager),
    ("GET", "/funds/{fund_id}/commitments"): _read(Role.viewer),
    ("PATCH", "/funds/{fund_id}/commitments/{investor_id}"): _write(Role.manager),
    ("POST", "/investors"): _write(Role.manager),
    ("GET", "/investors"): _read(Role.viewer),
    ("GET", "/investors/{investor_id}"): _read(Role.viewer),
    ("PATCH", "/investors/{investor_id}"): _write(Role.manager),
    # Contacts: an LP edits its own investor's (the service refuses viewers and other investors).
    ("GET", "/investors/{investor_id}/contacts"): _read(Role.investor),
    ("POST", "/investors/{investor_id}/contacts"): _write(Role.investor),
    ("PATCH", "/investors/{investor_id}/contacts/{contact_id}"): _write(Role.investor),
    ("DELETE", "/investors/{investor_id}/contacts/{contact_id}"): _write(Role.investor),
    # Bank details: masked to readers and the LP's own member; in full to an admin who asks
    # (never kept for an idempotent replay); an LP's change is held for an admin (the service).
    ("GET", "/investors/{investor_id}/bank-account"): _read(Role.investor),
    ("PUT", "/investors/{investor_id}/bank-account"): _write(Role.investor),
    ("POST", "/investors/{investor_id}/bank-account/reveal"): _write(
        Role.admin, shown_once="details"
    ),
    ("GET", "/investors/{investor_id}/bank-account/changes"): _read(Role.investor),
    ("POST", "/investors/{investor_id}/bank-account/changes/{change_id}/approve"): _write(
        Role.admin
    ),
    ("POST", "/investors/{investor_id}/bank-account/changes/{change_id}/reject"): _write(
        Role.admin
    ),
    ("POST", "/funds/{fund_id}/deals"): _write(Role.manager),
    ("GET", "/funds/{fund_id}/deals"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/deals/{deal_id}"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/deals/{deal_id}/metrics"): _read(Role.viewer),
    ("PATCH", "/funds/{fund_id}/deals/{deal_id}"): _write(Role.manager),
    ("PUT", "/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}"): _write(Role.manager),
    ("POST", "/funds/{fund_id}/deals/{deal_id}/allocations/prorata"): _write(Role.manager),
    ("POST", "/funds/{fund_id}/deals/{deal_id}/realisations"): _write(Role.manager, money=True),
    ("GET", "/funds/{fund_id}/deals/{deal_id}/realisations"): _read(Role.viewer),
    # Cancelling reverses the realised gain in the accounts: money, as realising.
    ("POST", "/funds/{fund_id}/deals/{deal_id}/realisations/{realisation_id}/cancel"): _write(
        Role.manager, money=True
    ),
    ("GET", "/funds/{fund_id}/allocations"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/allocations/totals"): _read(Role.viewer),
    ("GET", "/allocations"): _read(Role.viewer),
    # Capital calls: issuing and paying move money, so they need an Idempotency-Key.
    ("POST", "/funds/{fund_id}/capital-calls"): _write(Role.manager),
    ("GET", "/funds/{fund_id}/capital-calls"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/capital-calls/{call_id}"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/issue"): _write(Role.manager, money=True),
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/cancel"): _write(Role.manager),
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/payments"): _write(Role.manager, money=True),
    # Money that does not fit: reversing a bounced payment, closing out the unpaid rest, the
    # investor's credit from overpayments (refunding it moves money).
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/payments/{payment_id}/reverse"): _write(
        Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/close"): _write(Role.manager, money=True),
    # Defaults: declaring one starts default interest; a shortfall call drafts a call.
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/lines/{investor_id}/default"): _write(
        Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/shortfall"): _write(
        Role.manager, money=True
    ),
    ("GET", "/funds/{fund_id}/investors/{investor_id}/credit"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/credit/refund"): _write(
        Role.manager, money=True
    ),
    # Sending notices is an admin's approval, never the issuer's own (four eyes, in the service).
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/notices/approve"): _write(Role.admin),
    ("POST", "/funds/{fund_id}/capital-calls/{call_id}/notices/schedule"): _write(Role.admin),
    # Distributions move money: an Idempotency-Key is required.
    # Subsequent closes: a draft moves nothing; issuing books the equalization (money).
    ("POST", "/funds/{fund_id}/closings"): _write(Role.manager),
    ("GET", "/funds/{fund_id}/closings"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/closings/{closing_id}"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/closings/{closing_id}/issue"): _write(Role.manager, money=True),
    ("POST", "/funds/{fund_id}/distributions"): _write(Role.manager, money=True),
    ("GET", "/funds/{fund_id}/distributions"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/distributions/{distribution_id}"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/distributions/{distribution_id}/cancel"): _write(
        Role.manager, money=True
    ),
    # As a call's: an admin's approval, never the maker's own (four eyes, in the service).
    ("POST", "/funds/{fund_id}/distributions/{distribution_id}/notices/approve"): _write(
        Role.admin
    ),
    ("POST", "/funds/{fund_id}/distributions/{distribution_id}/notices/schedule"): _write(
        Role.admin
    ),
    # Carry settled: the position is read like distributions; booking the clawback at
    # wind-down moves money (escrow released, the GP's receivable): manager and above.
    ("GET", "/funds/{fund_id}/clawback"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/clawback"): _write(Role.manager, money=True),
    # The GP's repayment of the clawback receivable, escrow paid to the GP before wind-down.
    ("POST", "/funds/{fund_id}/clawback/repayments"): _write(Role.manager, money=True),
    ("POST", "/funds/{fund_id}/escrow/releases"): _write(Role.manager, money=True),
    ("GET", "/funds/{fund_id}/management-fees"): _read(Role.viewer),
    # Fee offsets and waivers lower what investors owe: money-moving, so a key is required.
    ("POST", "/funds/{fund_id}/fee-income"): _write(Role.manager, money=True),
    ("GET", "/funds/{fund_id}/fee-income"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/fee-waivers"): _write(Role.manager, money=True),
    ("GET", "/funds/{fund_id}/fee-waivers"): _read(Role.viewer),
    # Cancelling one recorded by mistake changes the fees owed the same way.
    ("POST", "/funds/{fund_id}/fee-income/{record_id}/cancel"): _write(Role.manager, money=True),
    ("POST", "/funds/{fund_id}/fee-waivers/{record_id}/cancel"): _write(Role.manager, money=True),
    # Calling a period's fee issues a capital call: as issuing a call.
    ("POST", "/funds/{fund_id}/management-fees/calls"): _write(Role.manager, money=True),
    ("GET", "/funds/{fund_id}/management-fees/calls"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/management-fees/calls/{fee_call_id}"): _read(Role.viewer),
    ("POST", "/funds/{fund_id}/management-fees/calls/{fee_call_id}/cancel"): _write(
        Role.manager, money=True
    ),
    # Valuations, metrics and capital accounts: an `investor` member sees its own investor's.
    ("POST", "/funds/{fund_id}/valuations"): _write(Role.manager),
    ("GET", "/funds/{fund_id}/valuations"): _read(Role.viewer),
    ("GET", "/funds/{fund_id}/metrics"): _read(Role.investor),
    ("GET", "/funds/{fund_id}/investors/{investor_id}/capital-account"): _read(Role.investor),
    ("GET", "/funds/{fund_id}/investors/{investor_id}/capital-account/statement"): _read(
        Role.investor
    ),
    # CSV imports: manager and above (they write the register in bulk).
    ("POST", "/funds/{fund_id}/imports"): _upload(Role.manager),
    ("GET", "/imports/{import_id}"): _read(Role.manager),
    ("GET", "/imports/{import_id}/errors.csv"): _read(Role.manager),
    ("GET", "/funds/{fund_id}/imports"): _read(Role.manager),
    # Saved column mappings: managed by those who import; read by any reader (no data in them).
    ("POST", "/import-mappings"): _write(Role.manager),
    ("GET", "/import-mappings"): _read(Role.viewer),
    ("GET", "/import-mappings/{mapping_id}"): _read(Role.viewer),
    ("PUT", "/import-mappings/{mapping_id}"): _write(Role.manager),
    ("DELETE", "/import-mappings/{mapping_id}"): _write(Role.manager),
    # Jobs: any reader may follow a job; retrying a failed one is an admin's call.
    ("GET", "/jobs"): _read(Role.viewer),
    ("GET", "/jobs/{job_id}"): _read(Role.viewer),
    ("POST", "/jobs/{job_id}/retry"): _write(Role.admin),
    # Webhooks name where the organisation's data goes: admins only.
    ("POST", "/webhooks"): _write(Role.admin, shown_once="secret"),
    ("GET", "/webhooks"): _read(Role.admin),
    ("DELETE", "/webhooks/{webhook_id}"): _write(Role.admin),
    ("GET", "/webhooks/{webhook_id}/deliveries"): _read(Role.admin),
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): _write(Role.admin),
    # Documents: an `investor` member sees its own investor's only.
    ("POST", "/funds/{fund_id}/reports"): _write(Role.manager, heavy=True),
    ("GET", "/documents"): _read(Role.investor),
    ("GET", "/funds/{fund_id}/activity"): _read(Role.admin),
    ("GET", "/documents/{document_id}"): _read(Role.investor),
    ("GET", "/documents/{document_id}/content"): _read(Role.investor),
    # Live events of a fund (SSE).
    ("GET", "/funds/{fund_id}/events"): _read(Role.viewer),
    # Calculations: pure, no tenant data, any role.
    ("POST", "/calculations/prorata"): _write(Role.investor),
    ("POST", "/calculations/xirr"): _write(Role.investor),
    ("POST", "/calculations/waterfall"): _write(Role.investor),
}


class MissingPolicy(LookupError):
    pass


class PageAccess(enum.Enum):
    public = "public"  # anyone (sign-in forms): forms carry a double-submit CSRF token
    second_factor = "second_factor"  # a session whose password was right, awaiting its code
    enrolment = "enrolment"  # signed in, even before the two-factor the org requires is set up
    signed_in = "signed_in"  # signed in, two-factor done (or not required)


@dataclasses.dataclass(frozen=True)
class PagePolicy:
    access: PageAccess
    least_role: Role | None = None  # for signed-in pages: the least role allowed
    # A form that moves money: it carries an `idempotency_key` (made when the form is shown),
    # so a double click or a resubmitted form acts once — as the API's Idempotency-Key.
    money: bool = False

    def allows(self, role: Role) -> bool:
        return self.least_role is None or ROLE_RANK[role] >= ROLE_RANK[self.least_role]


def _page(role: Role) -> PagePolicy:
    return PagePolicy(PageAccess.signed_in, role)


_PUBLIC_PAGE = PagePolicy(PageAccess.public)
_ENROLMENT = PagePolicy(PageAccess.enrolment, Role.investor)

# The console's pages (prorata.console), like ROUTES: a page missing here cannot be declared.
PAGES: dict[tuple[str, str], PagePolicy] = {
    ("GET", "/login"): _PUBLIC_PAGE,
    ("POST", "/login"): _PUBLIC_PAGE,
    ("GET", "/login/two-factor"): PagePolicy(PageAccess.second_factor),
    ("POST", "/login/two-factor"): PagePolicy(PageAccess.second_factor),
    ("POST", "/logout"): _ENROLMENT,
    ("GET", "/invitations/{token}"): _PUBLIC_PAGE,
    ("POST", "/invitations/{token}"): _PUBLIC_PAGE,
    ("GET", "/password-reset"): _PUBLIC_PAGE,
    ("POST", "/password-reset"): _PUBLIC_PAGE,
    ("GET", "/password-reset/{token}"): _PUBLIC_PAGE,
    ("POST", "/password-reset/{token}"): _PUBLIC_PAGE,
    ("GET", "/"): _page(Role.investor),
    ("GET", "/account"): _page(Role.investor),
    # The LP portal: an investor member's own investor only (the pages send others home).
    ("GET", "/portal/funds/{fund_id}"): _page(Role.investor),
    ("GET", "/portal/documents"): _page(Role.investor),
    ("POST", "/portal/investor"): _page(Role.investor),
    ("POST", "/portal/addressee"): _page(Role.investor),
    ("GET", "/portal/contacts"): _page(Role.investor),
    ("POST", "/portal/contacts"): _page(Role.investor),
    ("POST", "/portal/contacts/{contact_id}"): _page(Role.investor),
    ("POST", "/portal/contacts/{contact_id}/remove"): _page(Role.investor),
    ("GET", "/portal/bank-account"): _page(Role.investor),
    ("POST", "/portal/bank-account"): _page(Role.investor),
    ("POST", "/account/password"): _page(Role.investor),
    ("GET", "/account/two-factor"): _ENROLMENT,
    ("POST", "/account/two-factor"): _ENROLMENT,
    ("POST", "/account/two-factor/disable"): _page(Role.investor),
    ("POST", "/account/sessions/{session_id}/end"): _page(Role.investor),
    ("POST", "/account/api-keys"): _page(Role.investor),
    ("POST", "/account/api-keys/{key_id}/revoke"): _page(Role.investor),
    # Settings: an admin's, like the API routes they stand for.
    ("GET", "/settings"): _page(Role.admin),
    ("POST", "/settings/org"): _page(Role.admin),
    ("POST", "/settings/org/logo"): _page(Role.admin),
    ("POST", "/settings/api-keys"): _page(Role.admin),
    ("POST", "/settings/org/logo/remove"): _page(Role.admin),
    ("POST", "/settings/members/{user_id}"): _page(Role.admin),
    ("POST", "/settings/members/{user_id}/remove"): _page(Role.admin),
    ("POST", "/settings/invitations"): _page(Role.admin),
    ("POST", "/settings/invitations/{invitation_id}/revoke"): _page(Role.admin),
    ("POST", "/settings/webhooks"): _page(Role.admin),
    ("POST", "/settings/webhooks/{webhook_id}/delete"): _page(Role.admin),
    ("GET", "/settings/webhooks/{webhook_id}"): _page(Role.admin),
    ("POST", "/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): _page(Role.admin),
    # Funds (the GP console): the same least roles as the API routes they stand for.
    ("GET", "/funds/new"): _page(Role.manager),
    ("POST", "/funds"): _page(Role.manager),
    ("GET", "/funds/{fund_id}"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/deals"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/deals/{deal_id}/allocate"): _page(Role.manager),
    # Exits and carry from the fund page: money, as their API routes (the form's key).
    ("POST", "/funds/{fund_id}/deals/{deal_id}/realisations"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/deals/{deal_id}/realisations/{realisation_id}/cancel"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/escrow/releases"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/clawback/repayments"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("GET", "/funds/{fund_id}/allocations"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}"): _page(Role.manager),
    ("GET", "/funds/{fund_id}/commitments.{fmt}"): _page(Role.viewer),
    ("GET", "/funds/{fund_id}/fees.{fmt}"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/contacts"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/access"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/access/{user_id}/remove"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/invite"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/addressee"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/terms"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/contacts/{contact_id}"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/contacts/{contact_id}/remove"): _page(
        Role.manager
    ),
    ("GET", "/funds/{fund_id}/investors/{investor_id}/capital-account.{fmt}"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/bank-account"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/bank-account/reveal"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/bank-account/changes/{change_id}/approve"): (
        _page(Role.admin)
    ),
    ("POST", "/funds/{fund_id}/investors/{investor_id}/bank-account/changes/{change_id}/reject"): (
        _page(Role.admin)
    ),
    ("GET", "/funds/{fund_id}/distributions/new"): _page(Role.manager),
    ("GET", "/funds/{fund_id}/documents"): _page(Role.viewer),
    ("GET", "/funds/{fund_id}/investors/{investor_id}"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/valuations"): _page(Role.manager),
    ("GET", "/funds/{fund_id}/terms"): _page(Role.viewer),
    ("GET", "/funds/{fund_id}/fees"): _page(Role.viewer),
    ("GET", "/funds/{fund_id}/activity"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/terms"): _page(Role.manager),
    ("GET", "/documents/{document_id}"): _page(Role.viewer),
    ("GET", "/funds/{fund_id}/calls/{call_id}/notices.zip"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/jobs/{job_id}/retry"): _page(Role.admin),
    ("GET", "/funds/{fund_id}/imports/new"): _page(Role.manager),
    ("GET", "/funds/{fund_id}/imports/{import_id}"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/imports/{import_id}/apply"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/distributions/preview"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/distributions"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("GET", "/funds/{fund_id}/calls/{call_id}/lines.{fmt}"): _page(Role.viewer),
    ("GET", "/funds/{fund_id}/calls/new"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/calls"): _page(Role.manager),
    ("GET", "/funds/{fund_id}/calls/{call_id}"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/calls/{call_id}/issue"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/closings"): _page(Role.manager),
    ("POST", "/funds/{fund_id}/closings/{closing_id}/issue"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/calls/{call_id}/payments"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/calls/{call_id}/payments/{payment_id}/reverse"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/calls/{call_id}/close"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/calls/{call_id}/lines/{investor_id}/default"): PagePolicy(
        PageAccess.signed_in, Role.manager, money=True
    ),
    ("POST", "/funds/{fund_id}/calls/{call_id}/notices/approve"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/calls/{call_id}/notices/schedule"): _page(Role.admin),
    ("GET", "/funds/{fund_id}/distributions/{distribution_id}"): _page(Role.viewer),
    ("POST", "/funds/{fund_id}/distributions/{distribution_id}/notices/approve"): _page(Role.admin),
    ("POST", "/funds/{fund_id}/distributions/{distribution_id}/notices/schedule"): (
        _page(Role.admin)
    ),
}


def lookup_page(method: str, path: str) -> PagePolicy:
    try:
        return PAGES[(method.upper(), path)]
    except KeyError:
        raise MissingPolicy(
            f"{method} {path} has no entry in prorata.http.policy.PAGES: decide who may see it"
        ) from None


def upload_routes() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern under either API prefix) of each upload route, for the body-size
    bound, which runs before routing: `/funds/{fund_id}/imports` becomes
    `^/api(/v1)?/funds/[^/]+/imports$`."""
    routes = []
    for (method, path), route_policy in ROUTES.items():
        if route_policy.upload:
            parts = [
                "[^/]+" if part.startswith("{") else re.escape(part) for part in path.split("/")
            ]
            routes.append((method, re.compile(r"^/api(/v1)?" + "/".join(parts) + "$")))
    return routes


def lookup(method: str, path: str) -> RoutePolicy:
    try:
        return ROUTES[(method.upper(), path)]
    except KeyError:
        raise MissingPolicy(
            f"{method} {path} has no entry in prorata.http.policy.ROUTES: decide its least role, "
            "idempotency and rate tier there"
        ) from None
