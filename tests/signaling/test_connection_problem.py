"""connection_problem: what the media plane reports reaches the facilitators, and only them."""

from __future__ import annotations

from rooms import Role
from server.app_keys import SIGNALING
from signaling.media import ConnectionProblem
from tests.conftest import ClientFactory, RunningServer, joined, wait_until


async def test_a_connection_problem_reaches_the_facilitators_only(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ana, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    other_fac, _ = await joined(connect, server, "r2", Role.FACILITATOR, "Elsewhere")
    await fac.call("update_settings", {"auto_admit": False})
    waiting, _ = await joined(connect, server, "r1", Role.MEMBER, "Still waiting")
    assert ana.participant_id is not None

    server.app[SIGNALING].connection_problem(
        "r1", ana.participant_id, ConnectionProblem.UNSTABLE_MEDIA
    )

    event = await fac.wait_for("connection_problem")
    assert event == {"participant_id": ana.participant_id, "problem": "unstable_media"}
    # A room-wide event sent after it: once members have it, they would have had the other.
    before = len(ana.received("settings_changed"))
    await fac.call("update_settings", {"chat_enabled": False})
    await wait_until(
        lambda: all(len(c.received("settings_changed")) > before for c in (ana, ben)),
        what="settings_changed at both members",
    )
    for client in (ana, ben, other_fac, waiting):
        assert client.received("connection_problem") == []
    assert len(fac.received("connection_problem")) == 1


async def test_a_problem_about_someone_absent_is_not_sent(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    server.app[SIGNALING].connection_problem("r1", "p_gone", ConnectionProblem.UNSTABLE_MEDIA)
    server.app[SIGNALING].connection_problem("r9", "p_gone", ConnectionProblem.UNSTABLE_MEDIA)
    await fac.call("update_settings", {"auto_admit": True})  # a round trip after both
    assert fac.received("connection_problem") == []
