"""The API's exports as attachments: CSV streamed, XLSX built whole (supervisor/store/
export.py writes both), with a header that says when rows were left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from fastapi.responses import Response, StreamingResponse

from supervisor.store import export

ExportFormat = Literal["csv", "xlsx"]


def download(
    columns: Sequence[export.Column],
    items: Iterable[Mapping[str, Any]],
    stem: str,
    fmt: str,
    truncated: bool,
) -> Response:
    """A CSV or XLSX attachment of `items`, named from `stem`."""
    headers = {
        "Content-Disposition": export.content_disposition(stem, fmt),
        "X-Export-Truncated": "true" if truncated else "false",
        "Cache-Control": "no-store",
    }
    if fmt == "xlsx":
        body = export.to_xlsx(columns, items, sheet=stem[:31])
        return Response(body, media_type=export.content_type(fmt), headers=headers)
    return StreamingResponse(
        export.to_csv(columns, items), media_type=export.content_type(fmt), headers=headers
    )
