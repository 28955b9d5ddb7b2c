"""docs/protocol.md is how third parties write clients: its table of client events
must name exactly the route table's events, and say who may send each as the route
table (and through it the domain's permissions) does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from rooms import Role
from rooms.audit import AuditRecord
from rooms.events import LeaveReason
from signaling.event_names import ClientEvent
from signaling.routes import ROUTES

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def client_event_rows() -> dict[str, str]:
    """Event name -> the "who" cell, from the table under "Client → server"."""
    rows: dict[str, str] = {}
    for line in _client_section().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        names, who = cells[0], cells[2]
        for name in re.findall(r"`([a-z_]+)`", names):
            rows[name] = who
    return rows


_LETTERS = {"F": Role.FACILITATOR, "C": Role.COFACILITATOR, "M": Role.MEMBER, "O": Role.OBSERVER}
# A note in brackets that names the roles for one use of an event:
# "(someone else's: F C)", "(to facilitators: anyone admitted)".
_VARIANT = re.compile(r"\(([a-z' ]+): (anyone|[FCMO](?: [FCMO])*)\b[^)]*\)")


def _client_section() -> str:
    return PROTOCOL.read_text().split("## Client → server", 1)[1].split("\n## ", 1)[0]


def _roles(letters: str) -> frozenset[Role]:
    letters = letters.strip()
    if letters == "anyone":
        return frozenset(Role)
    return frozenset(_LETTERS[letter] for letter in letters.split())


def documented_senders(event: str, variant: str | None = None) -> frozenset[Role]:
    """The roles docs/protocol.md's "who" cell names (its bracketed condition aside);
    for one use of the event (``variant``: "someone else's", "to facilitators"), the
    roles its bracketed "(variant: roles)" note in that row names instead."""
    if variant is None:
        return _roles(client_event_rows()[event].split("(", 1)[0])
    notes = documented_uses(event)
    assert variant in notes, f"docs/protocol.md names no {variant!r} use of {event}"
    return notes[variant]


def documented_uses(event: str) -> dict[str, frozenset[Role]]:
    """The uses of an event its docs row names roles for: "(variant: roles)" notes."""
    row = next(
        line
        for line in _client_section().splitlines()
        if line.startswith("| `") and f"`{event}`" in line.split("|")[1]
    )
    return {name: _roles(who) for name, who in _VARIANT.findall(row)}


def sendable_while_waiting() -> frozenset[str]:
    """The events docs/protocol.md lets someone in the waiting room send: "someone
    waiting may `a`, `b` ..., nothing else"."""
    rule = re.search(r"someone waiting may (.*?), nothing else", _client_section(), re.S)
    assert rule is not None, "docs/protocol.md no longer says what someone waiting may send"
    return frozenset(re.findall(r"`([a-z_]+)`", rule[1]))


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
