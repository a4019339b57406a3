"""The gateway's FastAPI application: routers, the one error mapping, and the audit middleware."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlops.kernel.errors import DomainError
from services.gateway.api.auditing import DETAIL_STATE, AuditMiddleware
from services.gateway.api.models import ErrorBody
from services.gateway.api.routes import audit, health, tokens, whoami
from services.gateway.api.tracing import TracingMiddleware
from services.gateway.context import GatewayContext

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    setattr(request.state, DETAIL_STATE, str(exc))
    body = ErrorBody(detail=exc.message, code=exc.grpc_code_name, field=exc.field)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse(body.model_dump(), status_code=exc.http_status, headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    message = str(first.get("msg", "invalid request"))
    setattr(request.state, DETAIL_STATE, f"{field}: {message}" if field else message)
    body = ErrorBody(detail=message, code="INVALID_ARGUMENT", field=field)
    return JSONResponse(body.model_dump(), status_code=422)


def create_app(context: GatewayContext) -> FastAPI:
    app = FastAPI(
        title="MLOps platform gateway",
        version="0.1.0",
        description="Authentication, the platform's health, and the REST API of the console.",
    )
    app.state.gateway = context
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    # Added last runs first: the span must be open while the audit row is written.
    app.add_middleware(AuditMiddleware, recorder=context.audit)
    app.add_middleware(TracingMiddleware)
    api = APIRouter(prefix=API_PREFIX, responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
    api.include_router(whoami.router)
    api.include_router(tokens.router)
    api.include_router(audit.router)
    app.include_router(health.router)
    app.include_router(api)
    return app
