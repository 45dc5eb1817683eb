"""How the API answers a request it cannot serve, whatever the route: a request that does
not validate (422, without the value sent), a database that does not answer and a change
the journal could not take in time (503, never a 500 or a hang). `install` registers
them on an app."""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from supervisor.web.consumer import DATABASE_DOWN
from supervisor.web.writer import JournalUnavailable

log = logging.getLogger(__name__)

#: Characters of one location item (a field name sent by the client) a validation error
#: repeats; the rest is cut.
LOCATION_MAX: Final = 100


def install(app: FastAPI) -> None:
    """Answer validation errors and a database that is down on `app` as below."""
    app.add_exception_handler(RequestValidationError, validation_error)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, database_down)
    app.add_exception_handler(JournalUnavailable, journal_down)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 for a request that does not validate: where (`loc`), what (`type`, `msg`),
    and never the value sent (FastAPI's default answer echoes it as `input`: a hostile
    value, megabytes of it or nested a thousand deep, would be sent back, or fail to be
    encoded at all and turn into a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                {
                    "type": str(error.get("type", "")),
                    "loc": [location(item) for item in error.get("loc", ())],
                    "msg": str(error.get("msg", "")),
                }
                for error in errors
            ]
        },
    )


def location(item: object) -> str | int:
    """One item of an error's location: an index, or a name cut to LOCATION_MAX."""
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    return str(item)[:LOCATION_MAX]


async def database_down(request: Request, exc: Exception) -> JSONResponse:
    """503 for a request the database could not answer (never a 500); the projection
    waits for it on its own, and /healthz says degraded."""
    log.warning("a request found the read model's database down: %s", type(exc).__name__)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"}, status_code=503
    )


#: What a person reads when a change could not be written: it may still be applied.
JOURNAL_DOWN: Final = (
    "预警日志暂时无法写入（消息队列不可用），本次操作未确认；请稍后刷新查看，再决定是否重试"
)


async def journal_down(request: Request, exc: Exception) -> JSONResponse:
    """503 for a change the journal (Kafka) could not take in time (never a hang): the
    person is told it was not confirmed, and to look before trying again, since a record
    whose wait ended may still be written when the broker is back."""
    log.warning("a change could not be written to the journal: %s", exc)
    return JSONResponse({"detail": JOURNAL_DOWN}, status_code=503)
