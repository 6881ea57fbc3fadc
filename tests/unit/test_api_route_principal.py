"""A handler takes the principal the route's guard authenticated (`auth.CurrentPrincipal`), so a
route with no guard (a public one) cannot ask for one: refused when the route is built."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from prorata.http import policy
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.reads import HeavyReadSession
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import Principal


def test_a_public_route_asking_for_a_principal_is_refused() -> None:
    router = APIRouter(route_class=ApiRoute)

    async def who(principal: CurrentPrincipal) -> str:
        return str(principal.user_id)

    with pytest.raises(policy.MissingPolicy, match="public route"):
        router.get("/system/health")(who)


def test_a_public_route_asking_for_the_tenant_s_session_is_refused() -> None:
    router = APIRouter(route_class=ApiRoute)

    async def rows(session: TenantSession) -> None:
        return None

    with pytest.raises(policy.MissingPolicy, match="public route"):
        router.get("/system/ready")(rows)


def test_a_public_route_asking_for_a_heavy_read_session_is_refused() -> None:
    router = APIRouter(route_class=ApiRoute)

    async def rows(session: HeavyReadSession) -> None:
        return None

    with pytest.raises(policy.MissingPolicy, match="public route"):
        router.get("/system/ready")(rows)


def test_a_guarded_route_may_ask_for_it() -> None:
    router = APIRouter(route_class=ApiRoute)

    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        assert isinstance(principal, Principal)
        return {}

    router.get("/me")(me)
    (route,) = router.routes
    assert isinstance(route, ApiRoute)
    assert not route.policy.public
