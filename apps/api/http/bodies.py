"""Reading request bodies strictly: JSON only as UTF-8 `application/json`, unknown fields refused.

Routes that declare a ninja body get StrictJsonParser; POST /videos, which takes JSON or
multipart/form-data, reads its JSON with `json_body`. Both raise the same exceptions, which
apps/api/http/errors.py turns into 415, 400 and 422 problems.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
from django.http import HttpRequest
from ninja.errors import ValidationError
from ninja.parser import Parser

from apps.api.http.errors import MalformedBody, UnsupportedContentType

JSON = "application/json"
T = TypeVar("T", bound=pydantic.BaseModel)


def _decode(request: HttpRequest) -> Any:
    if request.content_type != JSON:
        raise UnsupportedContentType(
            f"the body must be {JSON}, not {request.content_type or 'untyped'}"
        )
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("the body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        return _decode(request)


def validate(schema: type[T], data: Any, where: str = "body") -> T:
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False)]
        raise ValidationError(errors) from None


def json_body(request: HttpRequest, schema: type[T]) -> T:
    return validate(schema, _decode(request))
