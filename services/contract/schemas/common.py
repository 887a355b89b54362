"""Schemas shared by several event payloads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.contract.fields import CreditCode

CHANNELS = ("web", "mobile", "window", "terminal", "hotline")
"""Service channels: portal, mobile app, hall window, self-service terminal, 12345 hotline."""


class DepartmentRef(Schema):
    """A department, identified by its unified social credit code."""

    code = CreditCode(required=True, metadata={"description": "The department's USCC."})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class EventRef(Schema):
    """A reference to another event by its de-duplication key."""

    source = fields.String(required=True, validate=validate.Length(min=1, max=200))
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
