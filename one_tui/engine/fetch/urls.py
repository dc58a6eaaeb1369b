"""A dataset file's URL, exactly as ONE-api builds it from a table row.

ONE 3.6.1 ``ConversionMixin.record2url`` (``one/converters.py``) and 2.11.2 (``one/api.py``):
``HTTP_DATA_SERVER + '/' + <lab>/Subjects/<subject>/<date>/<NNN> + '/' + rel_path`` with the
dataset id put before the extension (``ALFPath.with_uuid`` / ``add_uuid_string``), then
``urllib.parse.quote`` of the path part (so a revision folder ``#2024-05-06#`` is sent as
``%232024-05-06%23``; ``/`` kept). The server URL's trailing ``/`` is dropped as ONE's
``rel_path2url`` does; aggregates (a session path with ``aggregates/``) are out of reach of a
session's table row and not handled.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from one_tui.engine.local.ondisk import with_uuid

__all__ = ["dataset_url", "same_server", "PUBLIC_DATA_SERVER"]

#: ONE's public data URL (openalyx): no login (``one.params._patch_params``)
PUBLIC_DATA_SERVER = "https://ibl.flatironinstitute.org/public"


def dataset_url(server: str, session_path: str, rel_path: str, dataset_id: str) -> str:
    """``server/session_path/rel_path`` with the id before the extension, path-quoted."""
    path = f"{session_path.strip('/')}/{with_uuid(rel_path, dataset_id)}"
    return f"{server.rstrip('/')}/{quote(path)}"


def same_server(url: str, server: str) -> bool:
    """Whether ``url`` is on ``server`` (scheme, host, port, path prefix): the only place the
    data server's credentials are sent (ONE's ``_validate_file_url`` asserts the same)."""
    a, b = urlsplit(url), urlsplit(server.rstrip("/") + "/")
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and (a.path + "/").startswith(b.path)
