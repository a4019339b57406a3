"""The REST API's request and response bodies (what /openapi.json documents)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.gateway.domain import ApiToken


class TokenInfo(BaseModel):
    token_id: str
    subject: str
    role: str
    description: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, record: ApiToken) -> TokenInfo:
        return cls(
            token_id=record.token_id,
            subject=record.subject,
            role=record.role.value,
            description=record.description,
            created_at=record.created_at,
            created_by=record.created_by,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
        )


class CreateTokenRequest(BaseModel):
    role: str = Field(description="viewer, data-scientist, mlops-engineer, auditor, admin (or service)")
    subject: str = Field("", description="Who will hold the token; defaults to <role>-<token id>")
    description: str = ""
    ttl_seconds: int = Field(0, ge=0, description="0: the token does not expire")


class CreatedToken(BaseModel):
    token: str = Field(description="The secret, shown this once; only its hash is stored")
    info: TokenInfo


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class WhoAmI(BaseModel):
    subject: str
    role: str
    token_id: str
    permissions: list[str]


class AuditRecord(BaseModel):
    seq: int
    at: datetime
    service: str
    actor: str
    role: str
    action: str
    resource: str
    outcome: str
    detail: str
    trace_id: str


class AuditPage(BaseModel):
    records: list[AuditRecord]
    next_page_token: str = Field("", description="page_token of the next (older) page; empty on the last")


class ComponentHealthModel(BaseModel):
    status: str
    detail: str
    address: str


class HealthReport(BaseModel):
    status: str = Field(description="healthy, degraded or unhealthy")
    components: dict[str, ComponentHealthModel]


class ErrorBody(BaseModel):
    detail: str
    code: str
    field: str | None = None
