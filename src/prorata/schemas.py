"""Shared API model bases.

Request models forbid unknown fields (OWASP API3, mass assignment): a client cannot slip in
`org_id`, ids, statuses or computed amounts; they are never fields of a request model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
