"""`/docs` without internet: Swagger UI served by the service, with the bearer scheme shown."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from shared.kit.errors import PROBLEM_MEDIA_TYPE
from shared.kit.problems import PROBLEM_EXAMPLES

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

# In a file of its own: the pages' Content-Security-Policy allows no inline script.
INIT_SCRIPT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, persistAuthorization: false});
"""


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_responses(path: str, method: str, operation: dict[str, Any]) -> None:
    """Every problem an operation can answer with, as application/problem+json only: the
    router's (401, 403, 422, ...), and 404 where a path names a thing, 409 where it writes."""
    responses = operation.setdefault("responses", {})
    extra = []
    if "{" in path:
        extra.append(404)
    if method in ("post", "put", "patch", "delete"):
        extra.append(409)
    for status in extra:
        if str(status) not in responses:
            description, example = PROBLEM_EXAMPLES[status]
            responses[str(status)] = {"description": description, "content": {
                PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF, "example": example}}}
    for status, response in responses.items():
        content = response.get("content", {})
        if status[0] in "45" and PROBLEM_MEDIA_TYPE in content:
            plain = content.pop("application/json", {})
            content[PROBLEM_MEDIA_TYPE].setdefault("schema", plain.get("schema", PROBLEM_REF))
    operation["responses"] = dict(sorted(responses.items()))


def _request_examples(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The request model's examples (its `json_schema_extra`) as the body's examples: Swagger
    UI fills "Try it out" from these, not from a referenced schema's own `examples`."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        if "example" in media or "examples" in media:
            continue
        model = _resolved(media.get("schema", {}), schemas)
        examples = [_in_order(value, model, schemas) for value in model.get("examples", [])]
        if examples:
            media["examples"] = {_summary(value): {"value": value} for value in examples}


def _resolved(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """A referenced schema, or an optional one's non-null alternative."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _resolved(schemas.get(ref.rsplit("/", 1)[-1], {}), schemas)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _resolved(option, schemas)
    return schema


def _in_order(value: Any, schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """The example with its keys in the model's field order (pydantic sorts `examples`)."""
    schema = _resolved(schema, schemas)
    if isinstance(value, list):
        return [_in_order(item, schema.get("items", {}), schemas) for item in value]
    if not isinstance(value, dict):
        return value
    fields = schema.get("properties", {})
    keys = [k for k in fields if k in value] + [k for k in value if k not in fields]
    return {k: _in_order(value[k], fields.get(k, {}), schemas) for k in keys}


def _summary(example: Any) -> str:
    """The name an example is chosen by in Swagger UI: `action: accept`, or `example`."""
    for key in ("action", "status"):
        if isinstance(example, dict) and key in example:
            return f"{key}: {example[key]}"
    return "example"


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI from the swagger-ui-bundle package, and describe bearer tokens."""
    app.mount("/docs/static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def _docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(title=app.title))

    @app.get("/docs/init.js", include_in_schema=False)
    def _init() -> Response:
        return Response(INIT_SCRIPT, media_type="text/javascript")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token of your institution and role."}}
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1"):
                    for method, operation in operations.items():
                        operation.setdefault("security", [{"bearer": []}])
                        _problem_responses(path, method, operation)
                        _request_examples(operation, schema["components"]["schemas"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
