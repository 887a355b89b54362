"""Events owned by the audit service."""

from __future__ import annotations

from marshmallow import fields, validate

from services.contract.schemas.common import ContractSchema

_BASE64_SHA256 = r"^[A-Za-z0-9+/]{43}=$"


class CheckpointSignedV1(ContractSchema):
    """A signed checkpoint of a node's audit log (a C2SP tlog-checkpoint in a signed note).

    The structured fields repeat what the note says; verify the note, not the fields.
    """

    origin = fields.String(
        required=True,
        validate=validate.Regexp(r"^govnet/[0-9]{6}/audit$"),
        metadata={"description": "The log: govnet/<division>/audit; also the key's name."},
    )
    size = fields.Integer(
        required=True, validate=validate.Range(min=1), metadata={"description": "Tree size."}
    )
    root = fields.String(
        required=True,
        validate=validate.Regexp(_BASE64_SHA256),
        metadata={"description": "The RFC 6962 root hash, base64."},
    )
    time = fields.AwareDateTime(required=True, format="iso")
    key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The verifier key: <name>+<key hash hex>+<base64 key>."},
    )
    note = fields.String(
        required=True,
        validate=validate.Length(min=1, max=4000),
        metadata={"description": "The signed note, verifiable with any C2SP note verifier."},
    )
