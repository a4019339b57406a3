"""The gateway's REST API against a real gateway: bootstrap, tokens, refusals and their audit rows,
/healthz and the OpenAPI document."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

from services.gateway.domain import utcnow
from services.gateway.main import Gateway
from tests.integration.test_gateway_support import (
    admin_token,
    create_token,
    gateway_settings,
    grpc_health_server,
    http_client,
    running_gateway,
)


async def _audit_rows(gateway: Gateway, **params: str) -> list[dict[str, str]]:
    async with http_client(gateway, admin_token(gateway.settings)) as client:
        response = await client.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    records: list[dict[str, str]] = response.json()["records"]
    return records


async def test_first_start_writes_private_admin_and_service_tokens(tmp_path: Path, database_url: str) -> None:
    settings = gateway_settings(tmp_path / "data", database_url=database_url)
    async with running_gateway(settings) as gateway:
        for name in ("admin.token", "service.token"):
            path = settings.data_dir / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert path.read_text().startswith("mlops_")
        async with http_client(gateway, admin_token(settings)) as client:
            me = (await client.get("/api/v1/whoami")).json()
        assert (me["subject"], me["role"]) == ("admin", "admin")
        assert "tokens:manage" in me["permissions"]
        service_secret = (settings.data_dir / "service.token").read_text().strip()
        async with http_client(gateway, service_secret) as client:
            me = (await client.get("/api/v1/whoami")).json()
        assert (me["subject"], me["role"]) == ("platform", "service")
        first_admin = admin_token(settings)
    # A restart keeps both tokens rather than minting new ones.
    async with running_gateway(settings) as gateway:
        assert admin_token(settings) == first_admin
        async with http_client(gateway, first_admin) as client:
            assert (await client.get("/api/v1/whoami")).status_code == 200


async def test_tokens_are_created_listed_and_revoked_and_revoked_ones_refused(tmp_path: Path) -> None:
    async with running_gateway(gateway_settings(tmp_path)) as gateway:
        created = await create_token(gateway, "data-scientist", subject="ada", description="notebooks")
        info = created["info"]
        assert (info["subject"], info["role"], info["created_by"]) == ("ada", "data-scientist", "admin")
        async with http_client(gateway, created["token"]) as ada:
            assert (await ada.get("/api/v1/whoami")).json()["subject"] == "ada"
            async with http_client(gateway, admin_token(gateway.settings)) as admin:
                listed = (await admin.get("/api/v1/tokens")).json()["tokens"]
                assert info["token_id"] in {t["token_id"] for t in listed}
                assert all("hash" not in t and "token" not in t for t in listed)
                revoked = await admin.delete(f"/api/v1/tokens/{info['token_id']}")
                assert revoked.status_code == 200
                assert revoked.json()["revoked_at"] is not None
                active = (await admin.get("/api/v1/tokens")).json()["tokens"]
                assert info["token_id"] not in {t["token_id"] for t in active}
                everything = (await admin.get("/api/v1/tokens", params={"include_revoked": True})).json()
                assert info["token_id"] in {t["token_id"] for t in everything["tokens"]}
            refused = await ada.get("/api/v1/whoami")
        assert refused.status_code == 401
        assert refused.json()["code"] == "UNAUTHENTICATED"


async def test_request_without_token_is_refused_and_audited(tmp_path: Path) -> None:
    async with running_gateway(gateway_settings(tmp_path)) as gateway:
        async with http_client(gateway) as anonymous:
            response = await anonymous.post("/api/v1/tokens", json={"role": "admin"})
            forged = await anonymous.get("/api/v1/whoami", headers={"Authorization": "Bearer mlops_abc_nope"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert forged.status_code == 401
        rows = await _audit_rows(gateway, outcome="unauthenticated")
    actions = {(row["actor"], row["action"]) for row in rows}
    assert ("anonymous", "POST /api/v1/tokens") in actions
    assert ("anonymous", "GET /api/v1/whoami") in actions


async def test_role_without_permission_is_refused_and_audited(tmp_path: Path) -> None:
    async with running_gateway(gateway_settings(tmp_path)) as gateway:
        viewer = await create_token(gateway, "viewer", subject="vic")
        async with http_client(gateway, viewer["token"]) as client:
            create = await client.post("/api/v1/tokens", json={"role": "admin"})
            audit = await client.get("/api/v1/audit")
        assert create.status_code == 403
        assert create.json()["code"] == "PERMISSION_DENIED"
        assert audit.status_code == 403
        rows = await _audit_rows(gateway, actor="vic")
    assert [(r["action"], r["outcome"], r["role"]) for r in rows] == [
        ("GET /api/v1/audit", "denied", "viewer"),
        ("POST /api/v1/tokens", "denied", "viewer"),
    ]
    assert "tokens:manage" in rows[1]["detail"]


async def test_mutations_are_audited_with_outcome_and_trace_id(tmp_path: Path) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    async with running_gateway(gateway_settings(tmp_path)) as gateway:
        async with http_client(gateway, admin_token(gateway.settings)) as admin:
            made = await admin.post(
                "/api/v1/tokens",
                json={"role": "auditor", "subject": "aud"},
                headers={"traceparent": traceparent},
            )
            missing = await admin.delete("/api/v1/tokens/doesnotexist")
            bad_role = await admin.post("/api/v1/tokens", json={"role": "emperor"})
        assert made.status_code == 201
        assert missing.status_code == 404
        assert bad_role.status_code == 400
        assert bad_role.json()["field"] == "role"
        rows = await _audit_rows(gateway, actor="admin")
    by_action = {(r["action"], r["outcome"]): r for r in rows}
    created = by_action[("POST /api/v1/tokens", "ok")]
    assert created["trace_id"] == trace_id
    assert made.json()["info"]["token_id"] in created["resource"]
    assert "404" in by_action[("DELETE /api/v1/tokens/doesnotexist", "error")]["detail"]
    assert "unknown role" in by_action[("POST /api/v1/tokens", "error")]["detail"]


async def test_expired_tokens_are_refused(tmp_path: Path) -> None:
    async with running_gateway(gateway_settings(tmp_path)) as gateway:
        short = await create_token(gateway, "viewer", ttl_seconds=60)
        assert short["info"]["expires_at"] is not None
        assert gateway.context is not None
        # Move the gateway's clock past the expiry rather than sleep through it.
        gateway.context.tokens.clock = lambda: utcnow() + timedelta(minutes=2)
        async with http_client(gateway, short["token"]) as client:
            assert (await client.get("/api/v1/whoami")).status_code == 401


async def test_audit_log_pages_newest_first_for_auditors(tmp_path: Path) -> None:
    async with running_gateway(gateway_settings(tmp_path)) as gateway:
        auditor = await create_token(gateway, "auditor")
        async with http_client(gateway) as anonymous:
            for _ in range(5):
                await anonymous.delete("/api/v1/tokens/x")
        async with http_client(gateway, auditor["token"]) as client:
            first = (await client.get("/api/v1/audit", params={"page_size": 3})).json()
            second = (
                await client.get(
                    "/api/v1/audit", params={"page_size": 3, "page_token": first["next_page_token"]}
                )
            ).json()
    seqs = [r["seq"] for r in first["records"] + second["records"]]
    assert len(seqs) == 6  # five refusals and the token's creation
    assert seqs == sorted(seqs, reverse=True)
    assert second["next_page_token"] == ""


async def test_healthz_reports_absent_services_unhealthy_and_live_ones_healthy(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path)
    async with running_gateway(settings) as gateway, http_client(gateway) as client:
        response = await client.get("/healthz")
        assert response.status_code == 503
        report = response.json()
        assert report["status"] == "degraded"
        assert report["components"]["identity"]["status"] == "healthy"
        assert report["components"]["dataset"]["status"] == "unhealthy"
        assert report["components"]["dataset"]["address"] == settings.dataset_address
        async with (
            grpc_health_server(settings.dataset_address),
            grpc_health_server(settings.training_address),
            grpc_health_server(settings.registry_address),
            grpc_health_server(settings.serving_address),
        ):
            response = await client.get("/healthz")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "healthy"
        assert all(c["status"] == "healthy" for c in response.json()["components"].values())


async def test_openapi_document_lists_the_routes(tmp_path: Path) -> None:
    async with running_gateway(gateway_settings(tmp_path)) as gateway, http_client(gateway) as client:
        document = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    paths = document["paths"]
    assert {
        "/healthz",
        "/api/v1/whoami",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
        "/api/v1/audit",
    } <= set(paths)
    assert {"get", "post"} <= set(paths["/api/v1/tokens"])
    assert "delete" in paths["/api/v1/tokens/{token_id}"]
    assert docs.status_code == 200
