"""Sends that a synchronous path cannot await, run as tasks of their own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

logger = logging.getLogger(__name__)

# The attribute of an event loop that holds run_soon's tasks until they are done.
_BACKGROUND_TASKS = "_groupsession_background_tasks"


def run_soon(coroutine: Awaitable[None], loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Run ``coroutine`` as a task of its own: a send a synchronous path cannot await.

    Tasks run in the order they are created. A ConnectionError (the transport
    closed meanwhile) is expected and dropped; anything else is logged. The
    loop keeps a reference to each until it is done (asyncio itself keeps only
    weak ones), in a set that lives and dies with the loop.
    """
    loop = loop or asyncio.get_running_loop()
    running: set[asyncio.Task[None]] | None = getattr(loop, _BACKGROUND_TASKS, None)
    if running is None:
        running = set()
        setattr(loop, _BACKGROUND_TASKS, running)
    task = loop.create_task(_quietly(coroutine))
    running.add(task)
    task.add_done_callback(running.discard)


async def _quietly(coroutine: Awaitable[None]) -> None:
    try:
        await coroutine
    except ConnectionError:
        pass
    except Exception:
        logger.exception("forwarding task failed")
