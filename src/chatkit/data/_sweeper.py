"""The periodic retention sweep a server runs in the background (`chatkit serve --retain-days N`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from types import TracebackType
from typing import Any

from typing_extensions import Self

from chatkit.data._removal import DEFAULT_BATCH_SIZE, RemovalReport, remove_idle
from chatkit.logger import logger
from chatkit.store import AttachmentStore, Store
from chatkit.stores._base import ScopedStore

# Between two batches of one sweep: live writes get the database in between.
_BATCH_PAUSE = 0.05
# How long a stopping sweeper waits for the batch under way.
_STOP_TIMEOUT = 10.0


class RetentionSweeper:
    """Deletes threads idle for `days` days every `every` seconds while it runs (`async with sweeper:`).

    The first sweep starts after a random part of the first period (at most a minute), so the
    processes of a deployment do not all sweep at once; sweeps running at once on one PostgreSQL
    skip each other's rows. A sweep that fails is logged and tried again the next period.
    """

    def __init__(
        self,
        store: Store[Any],
        days: float,
        *,
        attachment_store: AttachmentStore[Any] | None = None,
        every: float = 3600.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if not isinstance(store, ScopedStore):
            raise TypeError(f"retention needs a store of chatkit.stores, not a {type(store).__name__}")
        if days < 0 or every <= 0:
            raise ValueError("retention needs days >= 0 and every > 0")
        self.store = store
        self.days = days
        self.attachment_store = attachment_store
        self.every = every
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def sweep(self) -> RemovalReport:
        """Run one sweep now; what it removed."""
        report = await remove_idle(
            self.store,
            self.days,
            attachment_store=self.attachment_store,
            batch_size=self.batch_size,
            pause=_BATCH_PAUSE,
            stop=self._stop,
        )
        if report.threads or report.attachments:
            logger.info("retention: removed %s", ", ".join(f"{n} {name}" for name, n in report.as_dict().items()))
        return report

    async def _loop(self) -> None:
        delay = random.uniform(0, min(self.every, 60.0))
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return
            try:
                await self.sweep()
            except Exception:
                logger.exception("retention: the sweep failed; trying again in %g s", self.every)
            delay = self.every

    async def __aenter__(self) -> Self:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="chatkit-retention")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # The batch under way finishes, files included: rows gone with their files still there
        # would leave files no record names. A batch that hangs is cancelled after a while.
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), _STOP_TIMEOUT)
        except asyncio.TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
