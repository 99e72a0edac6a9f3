"""TMF ``Error`` bodies for every failure, so channels handle one error shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from overlay.http.auth import Forbidden
from overlay.logging import get_logger

log = get_logger(__name__)


class TmfError(BaseModel):
    """The TMF Open API ``Error`` resource."""

    model_config = ConfigDict(populate_by_name=True)

    code: str
    reason: str
    message: str | None = None
    status: str | None = None
    reference_error: str | None = Field(None, alias="referenceError")
    type_: str = Field("Error", alias="@type")


class ApiError(Exception):
    """Raise from an endpoint to answer with a TMF error."""

    def __init__(self, status: int, code: str, reason: str, message: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.message = message


def error_response(status: int, code: str, reason: str, message: str | None = None) -> JSONResponse:
    body = TmfError(code=code, reason=reason, message=message, status=str(status))
    return JSONResponse(body.model_dump(by_alias=True, exclude_none=True), status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.reason, exc.message)

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "FORBIDDEN", "Forbidden", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error_response(400, "INVALID_REQUEST", "Invalid request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, f"HTTP_{exc.status_code}", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path)
        return error_response(500, "INTERNAL_ERROR", "Internal error", type(exc).__name__)
