"""What the gateway's handlers share, built once by main.py (or a test) and handed to the app."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.kernel.audit import AuditRecorder
from mlops.kernel.db import Database
from services.gateway.health import HealthChecker
from services.gateway.service import TokenService
from services.gateway.settings import GatewaySettings


@dataclass
class GatewayContext:
    settings: GatewaySettings
    db: Database
    tokens: TokenService
    audit: AuditRecorder
    health: HealthChecker
