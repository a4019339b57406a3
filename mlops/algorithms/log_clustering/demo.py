"""Demo data: log lines from a small production system (sshd, nginx, a database, Kafka, kubelet, an
application), made from 24 templates with realistic variable fields. The annotation is the template."""

from __future__ import annotations

import numpy as np

from mlops.algorithms.base import Purpose, Sample

_USERS = ["alice", "bob", "carol", "deploy", "root", "svc-backup", "jenkins", "maria", "ops", "test"]
_HOSTS = ["web-1", "web-2", "db-primary", "db-replica", "cache-3", "worker-7", "edge-eu", "edge-us"]
_SERVICES = ["checkout", "payments", "search", "inventory", "auth", "notifications"]
_TOPICS = ["orders", "events", "clicks", "audit", "metrics"]
_PATHS = ["/api/v1/orders", "/api/v1/users/me", "/static/app.js", "/healthz", "/api/v2/search", "/login"]
_TABLES = ["orders", "users", "sessions", "payments", "inventory_items"]


def _ip(rng: np.random.Generator) -> str:
    return ".".join(str(int(v)) for v in rng.integers(1, 255, 4))


def _pick(rng: np.random.Generator, values: list[str]) -> str:
    return values[int(rng.integers(len(values)))]


_TEMPLATES: dict[str, str] = {
    "ssh_accepted": "sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2",
    "ssh_failed": "sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2",
    "ssh_invalid_user": "sshd[{pid}]: Invalid user {user} from {ip} port {port}",
    "ssh_closed": "sshd[{pid}]: Connection closed by {ip} port {port} [preauth]",
    "nginx_access": '{ip} - - "GET {path} HTTP/1.1" {status} {size} "-" "Mozilla/5.0"',
    "nginx_post": '{ip} - - "POST {path} HTTP/1.1" {status} {size} "-" "curl/8.5.0"',
    "nginx_upstream_timeout": "upstream timed out (110: Connection timed out) while reading response header "
    "from upstream, client: {ip}, server: {host}, request: GET {path}",
    "db_slow_query": "LOG: duration: {ms} ms statement: SELECT * FROM {table} WHERE id = {num}",
    "db_checkpoint": "LOG: checkpoint complete: wrote {num} buffers ({pct}%); {num2} WAL file(s) added",
    "db_connection": "LOG: connection authorized: user={user} database={table} application_name={service}",
    "db_deadlock": "ERROR: deadlock detected DETAIL: Process {pid} waits for ShareLock on transaction {num}",
    "kafka_rebalance": "[GroupCoordinator {num}]: Preparing to rebalance group {service}-consumers in state "
    "PreparingRebalance with old generation {num2}",
    "kafka_lag": "Consumer group {service}-consumers lag on topic {topic} partition {small} is {num} "
    "messages",
    "kafka_segment": "[Log partition={topic}-{small}, dir=/var/lib/kafka] Rolled new log segment at "
    "offset {num} in {ms} ms.",
    "kubelet_pull": 'Pulling image "registry.local/{service}:{version}" for pod {service}-{hex}',
    "kubelet_oom": "Container {service} in pod {service}-{hex} was OOMKilled, restart count {small}",
    "kubelet_probe": "Readiness probe failed for pod {service}-{hex}: HTTP probe failed with statuscode: "
    "{status}",
    "app_request": "{time} INFO {service} request_id={uuid} user={user} path={path} took {ms}ms",
    "app_payment_failed": "{time} ERROR payments charge failed for order {num}: {reason} (code {small})",
    "app_cache_miss": "{time} DEBUG {service} cache miss for key {service}:{num} on {host}",
    "app_retry": "{time} WARN {service} retrying call to {host} attempt {small} of 5 after {ms}ms",
    "app_login": "{time} INFO auth user {email} logged in from {ip}",
    "cron_backup": "CRON[{pid}]: ({user}) CMD (/usr/local/bin/backup.sh --target {host} --keep {small})",
    "disk_usage": "WARNING: disk usage on {host} volume /data at {pct}% (threshold 85%)",
}


def _fields(rng: np.random.Generator) -> dict[str, str]:
    day, hour, minute, second = (int(v) for v in rng.integers((1, 0, 0, 0), (29, 24, 60, 60)))
    return {
        "pid": str(int(rng.integers(100, 65000))),
        "user": _pick(rng, _USERS),
        "ip": _ip(rng),
        "port": str(int(rng.integers(1024, 65535))),
        "path": _pick(rng, _PATHS),
        "status": _pick(rng, ["200", "201", "301", "404", "500", "503"]),
        "size": str(int(rng.integers(0, 90000))),
        "host": _pick(rng, _HOSTS),
        "ms": f"{rng.uniform(0.5, 5000):.1f}",
        "table": _pick(rng, _TABLES),
        "num": str(int(rng.integers(1, 10_000_000))),
        "num2": str(int(rng.integers(1, 500))),
        "pct": f"{rng.uniform(1, 99):.1f}",
        "service": _pick(rng, _SERVICES),
        "topic": _pick(rng, _TOPICS),
        "small": str(int(rng.integers(0, 12))),
        "version": f"{int(rng.integers(1, 4))}.{int(rng.integers(0, 20))}.{int(rng.integers(0, 9))}",
        "hex": f"{int(rng.integers(0, 2**32)):08x}"[: int(rng.integers(6, 9))],
        "time": f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{int(rng.integers(0, 1000)):03d}Z",
        "uuid": "-".join(f"{int(rng.integers(0, 2**32)):08x}"[:n] for n in (8, 4, 4, 4))
        + f"-{int(rng.integers(0, 2**48)):012x}",
        "email": f"{_pick(rng, _USERS)}@example.com",
        # Free text of varying length inside one template, as exception messages are.
        "reason": _pick(
            rng,
            [
                "card declined",
                "insufficient funds",
                "expired card",
                "issuer unavailable",
                "fraud check failed",
                "3-D Secure authentication timed out",
            ],
        ),
    }


TEMPLATE_NAMES = sorted(_TEMPLATES)


def system_logs(seed: int = 0, lines: int = 2400) -> list[Sample]:
    rng = np.random.default_rng(seed)
    # Some templates are far more common than others, as in real logs.
    weights = rng.uniform(0.3, 3.0, len(TEMPLATE_NAMES))
    weights /= weights.sum()
    samples = []
    for index in range(lines):
        name = TEMPLATE_NAMES[int(rng.choice(len(TEMPLATE_NAMES), p=weights))]
        draw = rng.random()
        purpose = Purpose.TRAINING if draw < 0.7 else Purpose.VALIDATION if draw < 0.8 else Purpose.TESTING
        samples.append(
            Sample(
                key=f"logs/{index:05d}",
                content=_TEMPLATES[name].format(**_fields(rng)).encode(),
                annotation=name,
                purpose=purpose,
                media_type="text/plain",
            )
        )
    return samples
