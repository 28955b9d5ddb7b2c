"""Which layer of each camera a subscriber receives: the selection rule, with no I/O.

Inputs, per subscriber: how it shows each publisher (``TileView``), the
publishers' layers (size, rate, whether they are being sent), who speaks and
who has priority (facilitators, spotlight), and the subscriber's downlink
budget. Output: per publisher, a layer (and a temporal cap) or a pause with
its reason. The plane applies it to the legs (``server/sfu/legs.py``) and
tells signaling (``video_forwarding_changed``); the union over subscribers
is what each publisher is asked to send (dynacast).

The rule (docs/media-plane.md, "Choosing layers"):

1. A tile the subscriber does not show gets no video (``hidden``).
2. Size: the lowest layer whose height covers the tile's; a tile of unknown
   size (never reported), or larger than every layer, gets the highest.
3. Audio first: the budget for video is the downlink estimate less the
   audio forwarded to the subscriber; audio is never cut.
4. Most relevant first (the speaker, then priority ids, then larger tiles):
   each gets its lowest layer if it fits, else only its base temporal layer
   (when the layer has temporal layers), else nothing (``bandwidth``), so
   the least relevant are paused first. Then, in the same order, layers go
   up towards the size's choice, one layer per publisher per round (and, while
   the downlink is being probed, only one publisher above what it forwards now).
5. Hysteresis: what is forwarded now is kept while it fits the budget; going
   up (or resuming) needs the budget with ``UP_HEADROOM`` to spare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from signaling.media import TileView, VideoPause

# Going up needs this share of the budget still free after the step: the
# estimate is noisy, and a step that only just fits would come down again.
UP_HEADROOM = 0.15
# What a layer's base temporal layer costs, as a share of the layer (with
# three temporal layers, TL0 is a quarter of the frames and about half the bits).
BASE_TEMPORAL_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class LayerOption:
    """One layer of a camera as selection sees it."""

    rid: str
    height: int  # 0: not known yet
    bitrate_bps: float
    live: bool  # the publisher sends it now
    temporal: bool = False  # it carries VP8 temporal layers


@dataclass(frozen=True, slots=True)
class VideoSource:
    """One publisher's camera, for one subscriber."""

    participant_id: str
    layers: tuple[LayerOption, ...]  # lowest resolution first
    tile: TileView | None  # None: the subscriber never reported this tile
    speaker: bool = False
    priority: bool = False
    # What the subscriber receives now (rid), None if nothing.
    current: str | None = None
    current_temporal: int | None = None
    # The layer its leg is switching to (waiting for that layer's keyframe), if any.
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    participant_id: str
    layer: str | None
    paused: VideoPause | None
    # The highest temporal layer forwarded (None: all).
    temporal: int | None = None
    # The layer the tile size asks for, whatever the budget (dynacast wants it).
    wanted: str | None = None


def size_choice(source: VideoSource) -> int | None:
    """Index of the layer the tile's size asks for; None when the tile is hidden."""
    tile = source.tile
    if tile is not None and (not tile.visible or tile.width <= 0 or tile.height <= 0):
        return None
    layers = source.layers
    if tile is None:
        return len(layers) - 1
    for index in range(len(layers)):
        if _height(layers, index) >= tile.height:
            return index
    return len(layers) - 1


def _height(layers: Sequence[LayerOption], index: int) -> int:
    """A layer's height, or (not seen yet) a guess from its place: 1/4, 1/2, full of 720."""
    known = layers[index].height
    if known:
        return known
    return 720 >> (len(layers) - 1 - index)


def relevance_order(sources: Sequence[VideoSource]) -> list[VideoSource]:
    """Most relevant first: the speaker, priority ids, then the larger tiles."""

    def key(source: VideoSource) -> tuple[int, int, int, str]:
        tile = source.tile
        area = -1 if tile is None else tile.width * tile.height
        return (not source.speaker, not source.priority, -area, source.participant_id)

    return sorted(sources, key=key)


def choose(
    sources: Sequence[VideoSource],
    video_budget_bps: float | None,
    max_raises: int | None = None,
) -> list[Choice]:
    """Each source's choice for one subscriber, under ``video_budget_bps`` (None: no cap).

    ``max_raises``: how many sources may go above the layer they are forwarded
    now in this round (None: any), so that a downlink whose estimate cannot
    show capacity (a receive-side estimate) is stepped up gradually.
    """
    wanted_index = {s.participant_id: size_choice(s) for s in sources}
    budget = float("inf") if video_budget_bps is None else max(video_budget_bps, 0.0)
    # Per source: index of the chosen live layer, its temporal cap, and its cost.
    chosen: dict[str, tuple[int, int | None, float]] = {}
    spent = 0.0
    ordered = relevance_order(sources)

    def fits(cost: float, current: bool) -> bool:
        if video_budget_bps is None:
            return True
        room = budget - spent
        return cost <= room if current else cost <= room - UP_HEADROOM * budget

    # Round 1: the lowest live layer for each, most relevant first; once one does not
    # fit, the less relevant are paused too (relevance decides, not who happens to fit).
    full = False
    for source in ordered:
        if wanted_index[source.participant_id] is None:
            continue
        live = [i for i, layer in enumerate(source.layers) if layer.live]
        if not live or full:
            continue
        base = live[0]
        layer = source.layers[base]
        # Stepping down to the base layer is never "going up".
        keeps = source.current is not None
        if fits(layer.bitrate_bps, keeps or _at_or_above(source, base)):
            chosen[source.participant_id] = (base, None, layer.bitrate_bps)
            spent += layer.bitrate_bps
        elif layer.temporal and fits(layer.bitrate_bps * BASE_TEMPORAL_SHARE, keeps):
            cost = layer.bitrate_bps * BASE_TEMPORAL_SHARE
            chosen[source.participant_id] = (base, 0, cost)
            spent += cost
        else:
            full = True

    # Round 2 onwards: up one layer per source per round, towards the size's choice.
    raised: set[str] = set()
    moved = True
    while moved:
        moved = False
        for source in ordered:
            pick = chosen.get(source.participant_id)
            target = wanted_index[source.participant_id]
            if pick is None or target is None or pick[1] is not None:
                continue
            index, _, cost = pick
            above = [i for i, layer in enumerate(source.layers) if layer.live and index < i]
            if not above or above[0] > target:
                continue
            step = above[0]
            # A step to what the leg already waits for is no new step up: it must not
            # take the round's raise from another camera (a keyframe that is slow to
            # come would starve every other camera of going up).
            raising = step > _committed_index(source) and source.participant_id not in raised
            if raising and max_raises is not None and len(raised) >= max_raises:
                continue
            extra = source.layers[step].bitrate_bps - cost
            # Keeping (or going back to) what is forwarded now needs no headroom.
            if fits(extra, _current_index(source) >= step):
                chosen[source.participant_id] = (step, None, source.layers[step].bitrate_bps)
                spent += extra
                moved = True
                if raising:
                    raised.add(source.participant_id)
    choices = []
    for source in sources:
        target = wanted_index[source.participant_id]
        wanted = None if target is None else source.layers[target].rid
        pick = chosen.get(source.participant_id)
        if target is None:
            choices.append(Choice(source.participant_id, None, VideoPause.HIDDEN))
        elif not any(layer.live for layer in source.layers):
            # Nothing is being sent (a muted camera, one not started): no pause to explain.
            choices.append(Choice(source.participant_id, None, None, None, wanted))
        elif pick is None:
            choices.append(Choice(source.participant_id, None, VideoPause.BANDWIDTH, None, wanted))
        else:
            index, temporal, _ = pick
            rid = source.layers[index].rid
            choices.append(Choice(source.participant_id, rid, None, temporal, wanted))
    return choices


def _current_index(source: VideoSource) -> int:
    for index, layer in enumerate(source.layers):
        if layer.rid == source.current:
            return index
    return -1


def _committed_index(source: VideoSource) -> int:
    """The higher of what is forwarded and what the leg is switching to."""
    committed = _current_index(source)
    for index, layer in enumerate(source.layers):
        if layer.rid == source.target:
            committed = max(committed, index)
    return committed


def _at_or_above(source: VideoSource, index: int) -> bool:
    return _current_index(source) >= index
