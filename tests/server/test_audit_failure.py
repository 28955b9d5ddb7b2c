"""An audit directory that fails after start-up (removed, full, read-only) must not
leave a session half-ended: everyone is still disconnected, and the log says why."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import socketio

from rooms import Role
from tests.conftest import Client, start_server, wait_until


async def test_ending_a_session_whose_trail_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = tmp_path / "audit"
    runner, server = await start_server(tmp_path, audit_dir=audit)
    clients: list[Client] = []
    try:
        for role, name in ((Role.FACILITATOR, "Fran"), (Role.COFACILITATOR, "Cole")):
            client = Client(socketio.AsyncClient(reconnection=False))
            await client.sio.connect(server.url, transports=["websocket"], wait_timeout=5)
            reply = await client.call("join", {"token": server.token("r1", role, name)})
            assert reply["ok"], reply
            clients.append(client)
        # The directory becomes a file: nothing can be written under it any more.
        if audit.exists():
            shutil.rmtree(audit)
        audit.write_text("")
        fran, cole = clients
        with caplog.at_level(logging.ERROR, logger="server.observer"):
            reply = await fran.call("end_session", {})
            assert reply["ok"], reply
            await wait_until(lambda: not cole.sio.connected, what="the co-facilitator dropped")
        room = server.room("r1")
        assert room is not None and room.ended
        (record,) = [r for r in caplog.records if r.getMessage() == "audit trail not kept"]
        # The operators' pseudonym for the room, never its raw id.
        assert str(getattr(record, "room_id", "")).startswith("room_")
        assert "r1" not in caplog.text.replace(str(record.room_id), "")
        assert "Fran" not in caplog.text and "Cole" not in caplog.text
    finally:
        for client in clients:
            if client.sio.connected:
                await client.sio.disconnect()
        await runner.cleanup()
