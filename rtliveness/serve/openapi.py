"""The service's OpenAPI description (``/openapi.json``, shown by ``/docs``): what the endpoints
really take and answer.

FastAPI describes a route from its Python signature, and ``/v1/analyze`` reads its body itself
(streamed to disk within the limits), so left alone the description had no request body, no
token, FastAPI's ``{"detail": [...]}`` for errors the service answers as ``{"error": "..."}``,
and the WebSocket as a GET answering 200. The generated description is completed here; what it
says about the answers is checked against real answers in the tests.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["install_openapi"]

DESCRIPTION = """\
Face liveness (live face or presentation attack) on uploaded videos and photos, and on a stream
of frames over a WebSocket.

**Token.** Started with `--token`, `POST /v1/analyze` needs `Authorization: Bearer <token>`
(the *Authorize* button here); the WebSocket takes it as `?token=`. `/health`, `/`, `/docs` stay open.

**Errors** are a 4xx with `{"error": "<one line>"}`.

**WebSocket `/v1/stream`** (not listed below: OpenAPI describes HTTP only). Send frames as binary
messages (JPEG or PNG bytes); each gets one JSON text message back, in order: the frame record of
`rtliveness run --jsonl`, `{"frame", "time", "faces": [{"track", "box", "p_spoof", "label"}]}`.
Close codes: 4401 token, 4403 origin, 1013 all slots busy, 1009 frame too large, 1001 idle.
"""

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "what was wrong and what to do, on one line"}},
    "required": ["error"],
}

_TRACK = {
    "type": "object",
    "properties": {
        "track": {"type": "integer"},
        "first_frame": {"type": "integer"},
        "last_frame": {"type": "integer"},
        "frames": {"type": "integer"},
        "windows": {"type": "integer", "description": "5-frame windows scored"},
        "mean_p_spoof": {"type": ["number", "null"]},
        "label": {"type": "string", "enum": ["live", "spoof", "pending"]},
    },
}

_SUMMARY = {
    "type": "object",
    "description": "the last line of `rtliveness run --jsonl` on the same file",
    "properties": {
        "source": {"type": "string", "description": "the client's file name (`upload` without one)"},
        "frames": {"type": "integer"},
        "seconds": {"type": "number"},
        "fps": {"type": "number"},
        "dropped": {"type": "integer"},
        "stopped": {"type": "string"},
        "error": {"type": ["string", "null"]},
        "tracks": {"type": "array", "items": {"$ref": "#/components/schemas/Track"}},
    },
}

_ANALYSIS = {
    "type": "object",
    "properties": {
        "summary": {"$ref": "#/components/schemas/Summary"},
        "frames": {"type": "array", "items": {"type": "object"},
                   "description": "with `?frames=1`: the per-frame records of `rtliveness run --jsonl`"},
    },
    "required": ["summary"],
}

_UPLOAD_ERRORS = {
    "400": "malformed or empty upload, or the client left",
    "401": "missing or wrong token",
    "403": "a browser page of an origin `--allow-origin` does not list",
    "408": "the upload paused for `--idle-timeout`, or came too slowly",
    "413": "larger than `--max-upload-mb`",
    "422": "not a video or photo this service reads, or a bad parameter",
    "503": "all stream slots busy (`--max-streams`), or the service is stopping",
}


def _error_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _describe(schema: dict) -> dict:
    components = schema.setdefault("components", {})
    components["schemas"] = {"Error": _ERROR, "Track": _TRACK, "Summary": _SUMMARY, "Analysis": _ANALYSIS}
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                "description": "the `--token` the service was started with"}}
    op = schema["paths"]["/v1/analyze"]["post"]
    op["summary"] = "Analyze an uploaded video or photo"
    op["security"] = [{"bearer": []}, {}]  # {}: a service started without --token takes none
    op.setdefault("parameters", []).append({
        "name": "X-Filename", "in": "header", "required": False, "schema": {"type": "string"},
        "description": "the file's name, for a raw body (UTF-8, or percent-encoded UTF-8)"})
    for p in op["parameters"]:
        if p["name"] == "frames":
            p["description"] = "add the per-frame records"
    binary = {"type": "string", "format": "binary"}
    op["requestBody"] = {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": binary}, "required": ["file"]}},
        "application/octet-stream": {"schema": binary},
    }}
    op["responses"] = {"200": {"description": "the analysis",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Analysis"}}}},
                       **{code: _error_response(text) for code, text in _UPLOAD_ERRORS.items()}}
    schema["paths"]["/health"]["get"]["summary"] = "The loaded model, the decision rule, stream slots"
    return schema


def install_openapi(app: FastAPI) -> None:
    """``app.openapi`` made to return the completed description (built once)."""
    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = _describe(get_openapi(title=app.title, version=app.version, description=DESCRIPTION,
                                                       routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
