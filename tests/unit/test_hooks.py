"""Hooks: subscribers run in order, once each; a hook nobody connected refuses to fire."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.platform import hooks

SESSION = cast(AsyncSession, object())  # subscribers here never touch it


async def test_subscribers_run_in_order_once_each() -> None:
    hook: hooks.Hook[str] = hooks.Hook("test.happened")
    heard: list[tuple[str, Any]] = []

    async def first(session: AsyncSession, event: str) -> None:
        heard.append(("first", event))

    async def second(session: AsyncSession, event: str) -> None:
        heard.append(("second", event))

    hook.connect(first)
    hook.connect(second)
    hook.connect(first)  # again: still once
    await hook.fire(SESSION, "call 4")
    assert heard == [("first", "call 4"), ("second", "call 4")]


async def test_a_hook_nobody_connected_refuses_to_fire() -> None:
    hook: hooks.Hook[str] = hooks.Hook("test.unwired")
    with pytest.raises(hooks.NotConnected, match=r"test\.unwired"):
        await hook.fire(SESSION, "call 4")
