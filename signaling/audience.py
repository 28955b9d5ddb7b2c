"""Who receives a room event: the room names an audience, this resolves it for one
participant. The server's delivery and the privacy property tests use this one
function, so what is tested is what is sent."""

from __future__ import annotations

from rooms import ParticipantState, Room
from rooms.events import Audience, RoomEvent


def receives(room: Room, participant_id: str, event: RoomEvent) -> bool:
    """Whether this participant (bound to a connection of the room) is sent ``event``."""
    return participant_id == event.also_to or in_audience(room, participant_id, event.audience)


def in_audience(room: Room, participant_id: str, audience: Audience) -> bool:
    """Whether this participant belongs to ``audience`` now (for what signaling sends on
    its own account, such as the media plane's reports)."""
    if audience is Audience.EVERYONE:
        return True
    if audience is Audience.NOBODY or not room.is_present(participant_id):
        return False
    participant = room.participant(participant_id)
    if participant.state is not ParticipantState.ADMITTED:
        return False
    return audience is Audience.ROOM or participant.role.facilitates
