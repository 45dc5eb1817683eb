"""How the API answers a request it cannot serve, whatever the route: a request that does
not validate (422, without the value sent) and a database that does not answer (503,
never a 500). `install` registers both on an app."""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from supervisor.web.consumer import DATABASE_DOWN

log = logging.getLogger(__name__)

#: Characters of one location item (a field name sent by the client) a validation error
#: repeats; the rest is cut.
LOCATION_MAX: Final = 100


def install(app: FastAPI) -> None:
    """Answer validation errors and a database that is down on `app` as below."""
    app.add_exception_handler(RequestValidationError, validation_error)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, database_down)


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
