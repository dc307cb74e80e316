"""Negative multipart forms judged on what was sent: a form part is text, so some negations do not survive the wire.

Schemathesis's type mutation of a string form field (`prompt: false`, `prompt: null`) is sent as the text
"false" or "null", a valid prompt: the mock is right to accept it, and `negative_data_rejection` must not call
that a bug; nor a list, sent as one part per item of which a server reads the last. A form still invalid once
each part is read back from its text (`prompt` missing or empty, `n` sent as "null", a `model` outside the enum)
must still be refused: only the negations that the wire undoes are spared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs
import orjson
import schemathesis
from schemathesis import Case
from schemathesis.core.parameters import ParameterLocation

# The test Schemathesis's own text/plain exemption (`_body_negation_becomes_valid_after_serialization`) makes
# first: whether another location (a header the caller did not override, say) still carries a negation.
from schemathesis.specs.openapi.checks import _has_other_negated_location, negative_data_rejection

INTEGER = re.compile(r"-?\d+")
BODY, HEADER = ParameterLocation.BODY, ParameterLocation.HEADER
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def rejects_negative_forms(schema: schemathesis.BaseSchema, sent_headers: Mapping[str, str] | None = None
                           ) -> Callable[..., bool | None]:
    """`negative_data_rejection`, except for a case negated in its body alone whose form, as sent, meets its schema
    (a case still negated elsewhere is judged by the stock check as before). `sent_headers` are the headers the
    caller adds to every request (the suite's Authorization): a negated header they replace never reached the server."""

    def check(ctx: Any, response: Any, case: Case[Any]) -> bool | None:
        meta = case.meta
        if (meta is not None and meta.generation.mode.is_negative and meta.is_negative_at(BODY)
                and not _has_other_negated_location(case, BODY, HEADER)
                and (not meta.is_negative_at(HEADER) or sent_headers_are_valid(case, sent_headers or {}))
                and sent_form_is_valid(schema, case)):
            return None  # the body was the only negation the server could act on, and the wire undid it
        result: bool | None = negative_data_rejection(ctx, response, case)
        return result

    check.__name__ = "negative_form_rejection"  # its own name: schemathesis.toml turns the stock one off
    return check


def sent_headers_are_valid(case: Case[Any], sent_headers: Mapping[str, str]) -> bool:
    """Whether the declared headers, with the caller's on top, meet the operation's header parameters."""
    declared = case.operation.get_parameter_set(HEADER)
    sent = {name: value for name, value in {**(case.headers or {}), **sent_headers}.items() if name in declared}
    return bool(jsonschema_rs.validator_for(declared.schema).is_valid(sent))


def sent_form_is_valid(schema: schemathesis.BaseSchema, case: Case[Any]) -> bool:
    """Whether the form Schemathesis sent, each plain part read back from its text as its property's type, meets
    the operation's form schema (file parts are bytes, any `format: binary` string)."""
    if not isinstance(case.body, dict) or not (case.media_type or "").startswith("multipart/"):
        return False
    document = schema.raw_schema
    form = document["paths"][case.path][case.method.lower()]["requestBody"]["content"][case.media_type]["schema"]
    properties = resolved(document, form).get("properties", {})
    sent = {}
    for name, value in case.body.items():
        prop = resolved(document, properties.get(name))
        if not isinstance(value, list):
            sent[name] = read_part(document, prop, value)
        elif isinstance(prop, dict) and prop.get("type") == "array":
            sent[name] = [read_part(document, prop.get("items"), item) for item in value]
        elif value:  # one part per item; a server reads a plain field's last one (files: any number of images)
            sent[name] = read_part(document, prop, value[-1])
    return bool(jsonschema_rs.validator_for({"components": document["components"], **form}).is_valid(sent))


def resolved(document: dict[str, Any], node: Any) -> Any:
    """A schema with its local `$ref` (`#/components/...`) followed."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = document
        for key in node["$ref"][2:].split("/"):
            target = target[key.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def types_of(document: dict[str, Any], prop: dict[str, Any]) -> set[str]:
    """The JSON types a property (or its `anyOf`/`oneOf` branches) allows."""
    found = {prop["type"]} if isinstance(prop.get("type"), str) else set(prop.get("type") or ())
    for branch in (*prop.get("anyOf", ()), *prop.get("oneOf", ())):
        branch = resolved(document, branch)
        if isinstance(branch, dict):
            found |= types_of(document, branch)
    return found


def read_part(document: dict[str, Any], prop: Any, value: Any) -> Any:
    """A form part as a server reads it: a file's bytes stand for any binary string; a plain part is the text
    Schemathesis sends (JSON spelling for null, booleans, arrays and objects) read as its property's type."""
    prop = resolved(document, prop)
    if not isinstance(prop, dict):
        return value
    if prop.get("format") == "binary":
        return "<file bytes>"
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | dict | list) or value is None:
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    types = types_of(document, prop)
    if "integer" in types and INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and NUMBER.fullmatch(text):
        return float(text)
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    return text
