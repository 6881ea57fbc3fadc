"""A read route run directly: its arguments solved without FastAPI's dependency solver.

FastAPI (0.165) solves a route's parameters anew on every request: for each one it asks
again whether its annotation is a sequence, which alias the request used, whether it is a
parameter model; and it solves each dependency as a tree of its own. On a list page that
was ~0.5 ms of CPU, a fifth of the request (docs/benchmarks.md, issue 21), for parameters
that never change kind: a path id, a few scalar filters, the page's `limit` and `cursor`,
and dependencies that only read the request (the session, the principal).

`DirectRead.of` looks at a route's dependency graph once, when its handler is built, and
keeps a plan only if every parameter is of those kinds and FastAPI would write the answer
as JSON straight from the response model; any other route keeps FastAPI's handler. At
request time a parameter is validated by its own pydantic field, as FastAPI validates it,
and the endpoint's answer is validated and written by the route's response field with the
route's options, as FastAPI writes it. Whatever the plan does not take as is — a parameter
absent without a default, a value its field refuses, dependency overrides (tests) — makes
`respond` answer None and FastAPI handle the request itself: every 422 is FastAPI's own,
word for word, and the plan only ever runs what FastAPI would have run with those values.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request, Response, params
from fastapi._compat import field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _get_param_aliases, _get_param_model
from fastapi.exceptions import ResponseValidationError

# A field's value was not sent (FastAPI's own marker is private; this one never leaves here).
_ABSENT = object()


@dataclasses.dataclass(frozen=True)
class _Scalar:
    """A path or query parameter holding one value."""

    name: str
    key: str  # what the request calls it
    in_path: bool
    field: Any  # FastAPI's ModelField

    def value(self, path: Mapping[str, Any], query: Mapping[str, str]) -> Any:
        raw = (path if self.in_path else query).get(self.key, _ABSENT)
        if raw is _ABSENT:
            info = self.field.field_info
            if info.is_required() or info.validate_default:
                return _ABSENT  # FastAPI's to answer (a 422) or to validate
            return copy.deepcopy(self.field.default)
        value, errors = self.field.validate(raw, {}, loc=("path" if self.in_path else "query",))
        return _ABSENT if errors else value


@dataclasses.dataclass(frozen=True)
class _Call:
    """A dependency: a function of the request alone, or of scalar parameters."""

    name: str | None
    call: Callable[..., Any]
    request_name: str | None
    scalars: tuple[_Scalar, ...]


class DirectRead:
    """A route's plan: its arguments, its endpoint, how its answer is written."""

    def __init__(self, route: Any, scalars: tuple[_Scalar, ...], calls: tuple[_Call, ...]) -> None:
        self._route = route  # the route, or FastAPI's context of it where it is included
        self._endpoint = route.dependant.call
        self._scalars = scalars
        self._calls = calls

    @classmethod
    def of(cls, route: Any) -> DirectRead | None:
        """The plan of a route (as `get_request_handler` is given it: `dependant` the one its
        handler solves) whose parameters are all of the kinds above, else None."""
        dependant: Dependant = route.dependant
        if route.response_field is None or not isinstance(route.response_class, DefaultPlaceholder):
            return None  # FastAPI would not write the model's JSON straight to bytes
        if route.stream_item_field is not None or route.is_json_stream:
            return None
        if not _plain(dependant) or not inspect.iscoroutinefunction(dependant.call):
            return None
        calls = []
        for sub in dependant.dependencies:
            if sub.dependencies or not _plain(sub) or not inspect.iscoroutinefunction(sub.call):
                return None
            if sub.call is None or not sub.use_cache:
                return None
            scalars = _scalars(sub)
            if scalars is None:
                return None
            calls.append(_Call(sub.name, sub.call, sub.request_param_name, scalars))
        scalars = _scalars(dependant)
        if scalars is None:
            return None
        return cls(route, scalars, tuple(calls))

    async def respond(self, request: Request) -> Response | None:
        """The route's answer, or None for FastAPI's handler to answer the request."""
        overrides = self._route.dependency_overrides_provider
        if overrides is not None and getattr(overrides, "dependency_overrides", None):
            return None
        arguments = await self._solve(request)
        if arguments is None:
            return None
        answer = await self._endpoint(**arguments)
        if isinstance(answer, Response):
            return answer
        route = self._route
        field = route.response_field
        value, errors = field.validate(answer, {}, loc=("response",))
        if errors:
            raise ResponseValidationError(errors=errors, body=answer)
        body = field.serialize_json(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
        return Response(body, status_code=route.status_code or 200, media_type="application/json")

    async def _solve(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's keyword arguments, or None for FastAPI to solve the request. Every
        parameter is read before any dependency runs: a request FastAPI will refuse runs
        nothing here."""
        path, query = request.path_params, request.query_params
        values = _read(self._scalars, path, query)
        inputs = [_read(call.scalars, path, query) for call in self._calls]
        if values is None or None in inputs:
            return None
        solved: dict[Callable[..., Any], Any] = {}
        for call, arguments in zip(self._calls, inputs, strict=True):
            if call.call in solved:  # FastAPI's dependency cache: one call per request
                result = solved[call.call]
            else:
                assert arguments is not None
                if call.request_name is not None:
                    arguments[call.request_name] = request
                result = solved[call.call] = await call.call(**arguments)
            if call.name is not None:
                values[call.name] = result
        return values


def _read(
    scalars: tuple[_Scalar, ...], path: Mapping[str, Any], query: Mapping[str, str]
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for scalar in scalars:
        value = scalar.value(path, query)
        if value is _ABSENT:
            return None
        values[scalar.name] = value
    return values


def _plain(dependant: Dependant) -> bool:
    """No parameter of a kind the plan does not take (headers, cookies, a body, the response,
    background tasks, security scopes, a websocket)."""
    return not (
        dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def _scalars(dependant: Dependant) -> tuple[_Scalar, ...] | None:
    found = []
    for field, in_path in [
        *((field, True) for field in dependant.path_params),
        *((field, False) for field in dependant.query_params),
    ]:
        info = field.field_info
        if not isinstance(info, params.Path | params.Query) or _get_param_model(field):
            return None
        if _takes_many(info.annotation):
            return None
        aliases = _get_param_aliases(field)
        if len(aliases) != 1:
            return None
        found.append(_Scalar(field.name, aliases[0][1], in_path, field))
    return tuple(found)


def _takes_many(annotation: Any) -> bool:
    """A list-valued query parameter (`?kind=a&kind=b`): FastAPI reads every value of it."""
    return bool(field_annotation_is_sequence(annotation))
