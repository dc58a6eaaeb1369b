"""The demo Alyx's self-descriptions: ``/api/schema`` (OpenAPI 3) and ``/docs/`` (Core API).

Two clients, two documents, as on the real Alyx 3.6:

- ONE 3.x reads ``GET /api/schema`` (drf-spectacular's OpenAPI 3) for the filter names of each
  list endpoint.
- ONE 2.x reads ``GET /docs`` with ``Accept: application/coreapi+json``: Alyx redirects to
  ``/docs/`` and, for that Accept header, answers the static Core API document it ships
  (``data/coreapi.json``); any other Accept gets the HTML (ReDoc) page. Without ``/docs`` ONE
  2.11.2 cannot search at all (its ``rest()`` checks every endpoint against this document).

Both are built from the same parameter lists the demo's filters implement, so a name listed is
a name the demo answers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SESSION_PARAMS", "INSERTION_PARAMS", "DATASET_PARAMS", "LIST_PARAMS", "DETAIL_KEY",
    "build_schema", "build_coreapi", "DOCS_HTML",
]

# --- filter parameters per list endpoint (what both documents list) ----------------------------
#: ``/sessions`` filters in Alyx 3.6.1 (the same set as its coreapi.json and api/schema).
SESSION_PARAMS = [
    "atlas_acronym", "atlas_id", "atlas_name", "auto_datetime", "dataset_qc_lte",
    "dataset_types", "datasets", "date_range", "django", "end_time", "extended_qc", "histology",
    "id", "json", "lab", "limit", "location", "n_correct_trials", "n_trials", "name", "narrative",
    "nickname", "number", "offset", "parent_session", "performance_gte", "performance_lte",
    "procedures", "project", "projects", "qc", "start_time", "subject", "tag", "task_protocol",
    "type", "users",
]
#: ``/insertions`` filters in Alyx 3.6.1.
INSERTION_PARAMS = [
    "atlas_acronym", "atlas_id", "atlas_name", "auto_datetime", "chronic_insertion",
    "dataset_qc_lte", "dataset_types", "datasets", "date", "django", "experiment_number", "id",
    "lab", "limit", "model", "name", "offset", "project", "serial", "session", "subject", "tag",
    "task_protocol",
]
#: The ``/datasets`` filters the demo implements (Alyx has more: md5, tags, public, ...).
DATASET_PARAMS = [
    "collection", "created_by", "created_date", "dataset_type", "date", "default_dataset",
    "django", "exists", "experiment_number", "hash", "lab", "limit", "name", "offset", "qc",
    "revision", "session", "subject",
]
LIST_PARAMS: dict[str, list[str]] = {
    "sessions": SESSION_PARAMS, "insertions": INSERTION_PARAMS, "datasets": DATASET_PARAMS,
    "revisions": ["limit", "name", "offset"], "dataset-types": ["limit", "offset"],
    "labs": ["django", "limit", "name", "offset"], "projects": ["limit", "offset"],
    "subjects": ["alive", "django", "lab", "limit", "nickname", "offset", "responsible_user",
                 "sex"],
    "users": ["limit", "offset", "username"],
}
DETAIL_KEY = {"sessions": "id", "insertions": "id", "datasets": "id", "revisions": "name",
              "dataset-types": "name", "labs": "name", "projects": "name",
              "subjects": "nickname", "users": "username"}

_PARAM_TYPES = {"number": "number", "experiment_number": "number", "n_trials": "number",
                "n_correct_trials": "number", "atlas_id": "number", "limit": "integer",
                "offset": "integer", "performance_gte": "number", "performance_lte": "number"}


def build_schema() -> dict[str, Any]:
    """A small OpenAPI 3 document of the demo's routes (what ONE 3.x reads filter names from)."""
    def op(op_id: str, params: list[dict[str, Any]]) -> dict[str, Any]:
        return {"operationId": op_id, "parameters": params, "tags": [op_id.split("_")[0]],
                "security": [{"tokenAuth": []}], "responses": {"200": {"description": ""}}}

    paths: dict[str, dict[str, Any]] = {
        "/api/schema": {"get": op("schema_retrieve", [])},
        "/auth-token": {"post": op("auth-token_create", [])},
        "/cache.zip": {"get": op("cache.zip_retrieve", [])},
        "/cache/info/": {"get": op("cache_info_retrieve", [])},
    }
    for ep, names in LIST_PARAMS.items():
        query = [{"in": "query", "name": n,
                  "schema": {"type": _PARAM_TYPES.get(n, "string")}} for n in names]
        key = DETAIL_KEY[ep]
        paths[f"/{ep}"] = {"get": op(f"{ep}_list", query)}
        fmt = {"format": "uuid"} if key == "id" else {}
        paths[f"/{ep}/{{{key}}}"] = {"get": op(f"{ep}_retrieve", [
            {"in": "path", "name": key, "schema": {"type": "string", **fmt}, "required": True}])}
    return {"openapi": "3.0.3", "info": {"title": "one-tui demo Alyx", "version": "3.6.1"},
            "paths": paths, "components": {"securitySchemes": {"tokenAuth": {
                "type": "apiKey", "in": "header", "name": "Authorization"}}}}


def _field(name: str, location: str, required: bool = False) -> dict[str, Any]:
    kind = _PARAM_TYPES.get(name, "string") if location == "query" else "string"
    out: dict[str, Any] = {"name": name}
    if required:
        out["required"] = True
    out.update({"location": location, "schema": {"_type": kind, "title": "", "description": ""}})
    return out


def build_coreapi(base_url: str) -> dict[str, Any]:
    """The Core API document ``/docs/`` answers to ``Accept: application/coreapi+json``.

    Shaped as Alyx's ``data/coreapi.json``: ``{"_type": "document", "_meta": {...}, <endpoint>:
    {<action>: {"_type": "link", "url", "action", "fields": [...]}}}``; ONE 2.x reads
    ``[endpoint]['list']['fields'][*]['name']`` for its remote search terms and checks each
    endpoint and action before a request. The demo lists only ``list`` and ``read`` (it refuses
    writes), and the ``cache`` / ``cache.zip`` / ``auth-token`` links.
    """
    doc: dict[str, Any] = {
        "_type": "document",
        "_meta": {"url": f"{base_url}/docs/", "title": "Alyx REST API documentation"},
        "auth-token": {"create": {"_type": "link", "url": "/auth-token", "action": "post",
                                  "encoding": "application/json",
                                  "fields": [_field("username", "form", True),
                                             _field("password", "form", True)]}},
        "cache": {"info": {"list": {"_type": "link", "url": "/cache/info/", "action": "get"}}},
        "cache.zip": {"list": {"_type": "link", "url": "/cache.zip", "action": "get"}},
    }
    for ep, names in LIST_PARAMS.items():
        key = DETAIL_KEY[ep]
        # Alyx lists limit and offset first, then the filters
        ordered = ["limit", "offset", *(n for n in names if n not in ("limit", "offset"))]
        doc[ep] = {
            "list": {"_type": "link", "url": f"/{ep}", "action": "get",
                     "fields": [_field(n, "query") for n in ordered]},
            "read": {"_type": "link", "url": f"/{ep}/{{{key}}}", "action": "get",
                     "fields": [_field(key, "path", True)]},
        }
    return dict(sorted(doc.items(), key=lambda kv: (not kv[0].startswith("_"), kv[0])))


#: What ``/docs/`` answers to a browser (the real one is a ReDoc page over /api/schema).
DOCS_HTML = ("<!DOCTYPE html>\n<html>\n<head><title>Alyx REST API documentation</title></head>\n"
             "<body>\n  <redoc spec-url=\"/api/schema\"></redoc>\n</body>\n</html>\n")
