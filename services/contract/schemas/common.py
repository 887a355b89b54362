"""Schemas shared by several event payloads."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from services.contract.fields import CreditCode

CHANNELS = ("web", "mobile", "window", "terminal", "hotline")
"""Service channels: portal, mobile app, hall window, self-service terminal, 12345 hotline."""


class ContractSchema(Schema):
    """Base of every payload schema, nested ones included: consumers ignore unknown fields
    at every depth, so adding a field is always a compatible change."""

    class Meta:
        unknown = EXCLUDE


class DepartmentRef(ContractSchema):
    """A department, identified by its unified social credit code."""

    code = CreditCode(required=True, metadata={"description": "The department's USCC."})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class EventRef(ContractSchema):
    """A reference to another event by its de-duplication key."""

    source = fields.String(required=True, validate=validate.Length(min=1, max=200))
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
