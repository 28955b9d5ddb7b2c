"""docs/protocol.md is how third parties write clients: its table of client events
must name exactly the route table's events, and say who may send each as the route
table (and through it the domain's permissions) does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from rooms.audit import AuditRecord
from rooms.events import LeaveReason
from signaling.event_names import ClientEvent
from signaling.routes import ROUTES

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def client_event_rows() -> dict[str, str]:
    """Event name -> the "who" cell, from the table under "Client → server"."""
    text = PROTOCOL.read_text()
    section = text.split("## Client → server", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        names, who = cells[0], cells[2]
        for name in re.findall(r"`([a-z_]+)`", names):
            rows[name] = who
    return rows


def test_the_docs_table_names_every_client_event() -> None:
    assert set(client_event_rows()) == {event.value for event in ClientEvent}


def test_the_docs_say_who_may_send_each_event_as_the_route_table_does() -> None:
    rows = client_event_rows()
    for event, route in ROUTES.items():
        assert rows[event.value] == route.senders.describe(), event


def test_audit_records_are_documented_with_every_field() -> None:
    fields = ", ".join(f'"{f.name}"' for f in dataclasses.fields(AuditRecord))
    assert f'"records": [{{{fields}}}]' in PROTOCOL.read_text()


def test_the_documented_leave_reasons_are_the_ones_sent() -> None:
    row = next(
        line
        for line in PROTOCOL.read_text().splitlines()
        if line.startswith("| `participant_left`")
    )
    documented = set(re.findall(r"`([a-z_]+)`", row.split("reason", 1)[1].split("(", 1)[0]))
    assert documented == {reason.value for reason in LeaveReason}
