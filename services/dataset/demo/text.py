"""Demo data for text classification (support tickets) and log clustering (server logs)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..domain import Scenario
from ..ingest import UploadFormat, UploadSpec
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile

_TICKETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "billing": (
        (
            "I was charged twice for my {plan} subscription",
            "The invoice for {month} shows the wrong amount",
            "Please refund the payment I made on {day}",
            "Why did my card get declined when renewing {plan}?",
            "Can I get a receipt with our VAT number for {month}?",
        ),
        ("Thanks.", "This is urgent.", "Our accountant is asking.", "Order {order}.", ""),
    ),
    "technical": (
        (
            "The app crashes when I open the {feature} page",
            "I get error {code} every time I try to sync",
            "Login keeps timing out on {device}",
            "The {feature} export produces an empty file",
            "Notifications stopped working after the update on {device}",
        ),
        ("I already reinstalled.", "Screenshots attached.", "Happens since {day}.", "Please help.", ""),
    ),
    "shipping": (
        (
            "My order {order} has not arrived yet",
            "The tracking number for order {order} does not work",
            "The package was delivered to the wrong address",
            "Can I change the delivery date of order {order}?",
            "The box arrived damaged and the {item} is broken",
        ),
        ("It was due on {day}.", "I need it this week.", "Courier says it is lost.", "", "Thanks."),
    ),
    "account": (
        (
            "How do I change the email address on my account?",
            "Please delete my account and all my data",
            "I cannot reset my password, the link expired",
            "Add a second user to our {plan} team",
            "Two-factor codes are not accepted on {device}",
        ),
        ("My username is {user}.", "Thanks in advance.", "", "This is the third time I ask.", "Regards."),
    ),
}
_FILL = {
    "plan": ("Pro", "Team", "Basic", "Enterprise"),
    "month": ("January", "February", "March", "April", "May"),
    "day": ("Monday", "Tuesday", "the 3rd", "last Friday", "yesterday"),
    "feature": ("reports", "dashboard", "calendar", "settings"),
    "code": ("E1042", "E2001", "500", "403", "SYNC-17"),
    "device": ("Android", "iPhone", "Windows", "Firefox"),
    "item": ("lamp", "keyboard", "mug", "headset"),
}


def text_classification(directory: Path, seed: int, records: int = 1200) -> DemoDataset:
    """Customer support tickets in four queues: billing, technical, shipping, account."""
    rng = random.Random(seed)
    path = directory / "support-tickets.jsonl"
    labels = sorted(_TICKETS)
    with path.open("w") as file:
        for index in range(records):
            label = labels[index % len(labels)]
            openings, closings = _TICKETS[label]
            text = f"{rng.choice(openings)}. {rng.choice(closings)}".strip()
            text = text.format(
                order=rng.randint(10000, 99999), user=f"user{rng.randint(1, 999)}", **_pick(rng)
            )
            record = {
                "id": f"ticket-{index:05d}",
                "text": text,
                "label": label,
                "channel": rng.choice(("email", "chat")),
            }
            file.write(json.dumps(record) + "\n")
    return DemoDataset(
        scenario=Scenario.TEXT_CLASSIFICATION,
        name="demo-support-tickets",
        description="Synthetic customer support tickets labelled with the queue that handles them.",
        tags=("demo", "nlp"),
        files=(DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.JSONL)),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )


def _pick(rng: random.Random) -> dict[str, str]:
    return {key: rng.choice(values) for key, values in _FILL.items()}


_LOG_TEMPLATES = (
    "sshd[{pid}]: Accepted publickey for {user} from 10.0.{a}.{b} port {port} ssh2",
    "sshd[{pid}]: Failed password for invalid user {user} from 203.0.{a}.{b} port {port} ssh2",
    "kernel: Out of memory: Killed process {pid} (python3) total-vm:{kb}kB",
    'nginx: 10.0.{a}.{b} - - "GET /api/v1/items/{item} HTTP/1.1" 200 {bytes}',
    'nginx: 10.0.{a}.{b} - - "GET /static/{file} HTTP/1.1" 404 {bytes}',
    'postgres[{pid}]: FATAL: connection to database "orders" timed out after {ms} ms',
    "CRON[{pid}]: ({user}) CMD (/usr/local/bin/backup.sh --target s3://backups/{item})",
    "systemd[1]: Started Session {item} of user {user}.",
)


def log_clustering(directory: Path, seed: int, lines: int = 1500) -> DemoDataset:
    """Syslog-style lines from eight message templates with varying fields."""
    rng = random.Random(seed)
    path = directory / "server.log"
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    weights = (30, 8, 2, 40, 6, 3, 5, 6)
    with path.open("w") as file:
        for _ in range(lines):
            moment += timedelta(seconds=rng.randint(1, 40))
            template = rng.choices(_LOG_TEMPLATES, weights=weights)[0]
            message = template.format(
                pid=rng.randint(100, 65000),
                user=rng.choice(("alice", "bob", "deploy", "root", "admin", "guest")),
                a=rng.randint(0, 255),
                b=rng.randint(1, 254),
                port=rng.randint(30000, 65000),
                kb=rng.randint(10**6, 8 * 10**6),
                item=rng.randint(1, 5000),
                bytes=rng.randint(200, 90000),
                file=rng.choice(("app.js", "logo.png", "main.css", "favicon.ico")),
                ms=rng.choice((5000, 10000, 30000)),
            )
            file.write(f"{moment.isoformat().replace('+00:00', 'Z')} web-{rng.randint(1, 3)} {message}\n")
    return DemoDataset(
        scenario=Scenario.LOG_CLUSTERING,
        name="demo-server-logs",
        description="Synthetic server logs (ssh, nginx, kernel, database, cron) for clustering by template.",
        tags=("demo", "logs"),
        files=(DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.LOG_LINES)),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )
