"""Sending the outbox to the cloud: oldest first, in batches, until it is empty.

A task of its own, beside the sync loop. It wakes about a second after something is queued
(`Outbox.added`; the delay gathers the events written together into one request), at once
for a command's result (`Outbox.urgent`: an admin waits for it), sends
batches of at most `MAX_EVENTS_PER_BATCH` events and `MAX_EVENTS_BATCH_BYTES` bytes
(`POST /device/events`), and deletes from the outbox what the cloud's receipt names:
stored, already stored, or refused (each refused event is logged once, in one line).
Nothing is deleted before the cloud answered, so a crash or a lost answer only sends a
batch again, and the cloud stores each event once by its id.

Failures back off (1, 2, 4 … 60 s, jittered); `retry_now` ends a backoff early (the cloud
answers again). A cloud that does not take reports (404 or 405: an older version) is asked
again every 10 minutes, with one log line. A batch the cloud refuses whole (400, 413, 422)
is sent in halves, down to single events, and a single event refused whole is dropped with
a log line, so one bad event never blocks those behind it. Nothing the cloud sends ends
this task.
"""

from __future__ import annotations

import asyncio
import logging

from agent.backoff import MAX_BACKOFF_S, jittered
from agent.errors import StoreError
from agent.outbox import Outbox, Pending
from agent.waiting import wait_event
from sync.client import DeviceClient
from sync.errors import CloudResponseError, SyncError, Unauthorized
from sync.models import MAX_EVENTS_BATCH_BYTES, MAX_EVENTS_PER_BATCH, EventsReceipt

log = logging.getLogger(__name__)

COALESCE_S = 1.0  # after a wake-up, wait this long for more events to share the request
IDLE_CHECK_S = 300.0  # with nothing queued, look again this often all the same
NOT_ENROLLED_CHECK_S = 5.0  # without tokens, look again this often
UNSUPPORTED_WAIT_S = 600.0  # a cloud without the endpoint is asked again this often
NOT_SUPPORTED = frozenset({404, 405})
REFUSED_WHOLE = frozenset({400, 413, 422})
ENVELOPE_BYTES = len('{"events":[]}')


def batch_of(pending: list[Pending], *, max_events: int, max_bytes: int) -> list[Pending]:
    """The longest prefix of `pending` within `max_events` events and `max_bytes` bytes of
    request body (at least its first event, which the caller checks on its own)."""
    size = ENVELOPE_BYTES
    batch: list[Pending] = []
    for event in pending[:max_events]:
        size += len(event.body.encode()) + (1 if batch else 0)  # the comma between two
        if batch and size > max_bytes:
            break
        batch.append(event)
    return batch


class ReportUploader:
    """Empties the outbox into the cloud; `run` until cancelled."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        client: DeviceClient,
        coalesce_s: float = COALESCE_S,
        idle_check_s: float = IDLE_CHECK_S,
        unsupported_wait_s: float = UNSUPPORTED_WAIT_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        max_events: int = MAX_EVENTS_PER_BATCH,
        max_bytes: int = MAX_EVENTS_BATCH_BYTES,
    ) -> None:
        self._outbox = outbox
        self._client = client
        self._coalesce_s = coalesce_s
        self._idle_check_s = idle_check_s
        self._unsupported_wait_s = unsupported_wait_s
        self._max_backoff_s = max_backoff_s
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._limit = max_events  # halved while the cloud refuses batches whole
        self._retry = asyncio.Event()
        self.requests = 0  # POSTs sent, answered or not (for benchmarks)
        self.acknowledged = 0  # events the cloud's receipts named

    def retry_now(self) -> None:
        """End a backoff now (the cloud answers again, or something urgent was queued)."""
        self._retry.set()

    # --- the task -------------------------------------------------------------------

    async def run(self) -> None:
        failures = 0
        unsupported = False
        while True:
            wait: float | None = None  # None: idle until something is queued
            try:
                if self._client.tokens is None:
                    wait = NOT_ENROLLED_CHECK_S
                else:
                    sent = await self.drain()
                    if failures or unsupported:
                        log.info("reports: the cloud takes events again; %d sent", sent)
                    failures, unsupported = 0, False
            except CloudResponseError as exc:
                if exc.status_code in NOT_SUPPORTED and not isinstance(exc, Unauthorized):
                    if not unsupported:  # once, not every 10 minutes
                        log.warning(
                            "reports: the cloud does not take events (%s): it may be an older "
                            "version; %d event(s) wait in the outbox, asking again every %.0f min",
                            exc, self._waiting(), self._unsupported_wait_s / 60,
                        )  # fmt: skip
                    unsupported = True
                    wait = self._unsupported_wait_s
                else:
                    failures += 1
                    wait = self._failed(exc, failures)
            except (SyncError, StoreError) as exc:
                failures += 1
                wait = self._failed(exc, failures)
            except Exception as exc:  # a bug must not stop reporting: log it, retry later
                failures += 1
                if failures == 1:
                    log.exception("reports: sending failed unexpectedly; retrying with backoff")
                wait = self._failed(exc, failures, logged=True)
            if wait is None:
                await self._idle()
            else:
                await self._backoff(wait)

    def _failed(self, exc: Exception, failures: int, *, logged: bool = False) -> float:
        wait = jittered(failures, self._max_backoff_s)
        if failures == 1 and not logged:  # the sync loop already logs each failed round
            log.warning(
                "reports: sending failed: %s; %d event(s) wait in the outbox, retrying with "
                "backoff", exc, self._waiting(),
            )  # fmt: skip
        else:
            log.debug("reports: sending failed again (%d in a row): %s", failures, exc)
        return wait

    def _waiting(self) -> int:
        try:
            return sum(self._outbox.counts().values())
        except StoreError:
            return -1

    async def _idle(self) -> None:
        await wait_event(self._outbox.added, self._idle_check_s)
        # gather what follows, unless it is urgent
        await wait_event(self._outbox.urgent, self._coalesce_s)

    async def _backoff(self, wait: float) -> None:
        self._retry.clear()
        await wait_event(self._retry, wait)

    # --- sending --------------------------------------------------------------------

    async def drain(self) -> int:
        """Send batches until the outbox is empty; how many events the cloud acknowledged.

        Raises `SyncError` (the cloud could not be reached, or answered something else than
        a receipt) or `StoreError`; what was acknowledged before stays acknowledged.
        """
        self._outbox.added.clear()  # what is queued from now on wakes the next round
        self._outbox.urgent.clear()
        total = 0
        while True:
            pending = self._outbox.oldest(self._limit)
            if not pending:
                return total
            total += await self._send(pending)

    async def _send(self, pending: list[Pending]) -> int:
        batch = batch_of(pending, max_events=self._limit, max_bytes=self._max_bytes)
        if len(batch) == 1 and len(batch[0].body.encode()) + ENVELOPE_BYTES > self._max_bytes:
            return self._drop(batch[0], f"it is larger than a batch may be ({self._max_bytes} B)")
        self.requests += 1
        try:
            receipt = await self._client.post_events([event.body for event in batch])
        except CloudResponseError as exc:
            if exc.status_code not in REFUSED_WHOLE or isinstance(exc, Unauthorized):
                raise
            if len(batch) == 1:
                return self._drop(batch[0], str(exc))
            if self._limit == self._max_events:  # once a streak, not per halving
                log.warning("reports: %s; sending smaller batches", exc)
            self._limit = max(1, len(batch) // 2)
            return 0
        acknowledged = self._acknowledge(batch, receipt)
        self._limit = min(self._max_events, self._limit * 2)
        return acknowledged

    def _acknowledge(self, batch: list[Pending], receipt: EventsReceipt) -> int:
        sent = {event.id: event for event in batch}
        for refused in receipt.refused:
            event = sent.get(refused.id)
            if event is not None:
                log.warning(
                    "reports: the cloud refused %s event %s: %s; dropped from the outbox",
                    event.type, event.id, refused.reason,
                )  # fmt: skip
        named = [*receipt.stored, *receipt.duplicates, *(r.id for r in receipt.refused)]
        ids = [event_id for event_id in dict.fromkeys(named) if event_id in sent]
        if not ids:
            raise CloudResponseError(
                f"the cloud's receipt names none of the {len(batch)} events sent"
            )
        self._outbox.acknowledge(ids)
        self.acknowledged += len(ids)
        return len(ids)

    def _drop(self, event: Pending, reason: str) -> int:
        log.error("reports: %s event %s cannot be sent (%s); dropped", event.type, event.id, reason)
        return self._outbox.acknowledge([event.id])


__all__ = ["ReportUploader", "batch_of"]
