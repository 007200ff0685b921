"""The OpenAPI document as client generators read it.

django-ninja generates the paths from the routes; this module makes the result tell the truth
about what is sent and name everything a generated SDK exposes:

- operation ids are the view functions' names (`create_video`, `complete_upload`, …), stable
  across refactors of the module layout;
- every error response (4xx, 5xx) is declared `application/problem+json` with the one problem
  model (`Problem`), and every operation declares the statuses any route can send (401, 403,
  405, 429, 500, 503);
- request bodies the routes read themselves (JSON or multipart create, the optional complete
  body) are named component schemas, never inline ones a generator names after the module path.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from ninja import NinjaAPI
from pydantic import BaseModel

from apps.api.http.problems import CONTENT_TYPE as PROBLEM
from apps.api.schemas.videos import ProblemOut

REF = "#/components/schemas/{model}"
# Sent by any authenticated route whatever it does: no key, a CSRF refusal (session pages), the
# wrong method on a known path, the key's rate limit, a crash, a dependency down.
EVERY_ROUTE = {
    401: "No valid API key (or session)",
    403: "The session's CSRF token is missing",
    405: "The path does not take this method (the Allow header lists those it does)",
    429: "The API key's rate limit is spent (Retry-After says when to try again)",
    500: "An unexpected failure; quote the trace_id",
    503: "The database, Redis or storage is unavailable (Retry-After)",
}
# Routes without authentication still refuse the wrong method and can fail.
EVERY_PUBLIC_ROUTE = {status: EVERY_ROUTE[status] for status in (405, 500, 503)}
PROBLEM_REF = {"$ref": REF.format(model=ProblemOut.__name__)}
STANDARD_DESCRIPTIONS = {
    400: "The body cannot be read (not UTF-8 JSON, a broken multipart form)",
    404: "No such resource for this tenant",
    409: "The video's status does not allow the request, or the Idempotency-Key is in use",
    413: "The body is larger than allowed",
    415: "The body's Content-Type is not one the route accepts",
    422: "A field or parameter is not valid (errors[] names each)",
}


def component(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema as a component, its nested models referenced, not inlined."""
    schema = model.model_json_schema(ref_template=REF)
    schema.pop("$defs", None)
    return schema


def nested_components(model: type[BaseModel]) -> dict[str, Any]:
    """The component schemas a model's schema refers to."""
    return model.model_json_schema(ref_template=REF).get("$defs", {})


def ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


class AcademyApi(NinjaAPI):
    """NinjaAPI whose schema carries readable operation ids and problem+json errors."""

    def __init__(
        self,
        *args: Any,
        components: dict[str, Any] | None = None,
        paths: dict[str, dict[str, Any]] | None = None,
        security_schemes: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        # Schemas that routes reference by name (request bodies they read themselves).
        self.extra_components = components or {}
        # Routes served by plain Django views beside the API (the SSE stream).
        self.extra_paths = paths or {}
        self.extra_security_schemes = security_schemes or {}

    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(self.extra_components)
        components[ProblemOut.__name__] = component(ProblemOut)
        components.update(nested_components(ProblemOut))
        schema["components"].setdefault("securitySchemes", {}).update(self.extra_security_schemes)
        for path, operations in self.extra_paths.items():
            schema["paths"][path] = copy.deepcopy(operations)
        for item in schema["paths"].values():
            for operation in item.values():
                _declare_errors(operation)
        return schema


def _declare_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    common = dict(EVERY_ROUTE if operation.get("security") else EVERY_PUBLIC_ROUTE)
    if operation.get("requestBody"):
        common.update({s: STANDARD_DESCRIPTIONS[s] for s in (400, 413, 415, 422)})
    elif any(p["in"] in ("query", "path") for p in operation.get("parameters", [])):
        common[422] = STANDARD_DESCRIPTIONS[422]
    for status, description in sorted(common.items()):
        responses.setdefault(str(status), {"description": description})
    for status, response in responses.items():
        if int(status) < 400:
            continue
        response["content"] = {PROBLEM: {"schema": PROBLEM_REF}}
        if response.get("description", "") in ("", HTTPStatus(int(status)).phrase):
            response["description"] = STANDARD_DESCRIPTIONS.get(
                int(status), EVERY_ROUTE.get(int(status), "A problem (RFC 9457)")
            )
