"""Adaptive batching: concurrent requests for one version share one ``predict`` call.

Each request is checked on its own first (a bad payload fails alone, before batching).
Checked requests wait in a per-version queue; one drain task per version takes what is
queued and calls the model once, then splits the answers back. Adaptive means it never
waits for company that is not coming: when no other request for the model is being read
or checked, the queue is drained at once (a lone client pays nothing); when some are,
it waits for them up to ``max_wait`` seconds, or until ``max_rows`` rows are queued.
While the model runs, new requests queue up, so under load batches grow by themselves.
(Triton waits 0 by default; Ray Serve 10 ms; BentoML up to 60 s — see docs/serving.md.)
If the joint call fails, each request of the batch is retried alone
(:meth:`Predictor.predict_many`), so one request the model rejects fails alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from mlops_jupyter.models.predictor import LoadedModel, Predictor

DEFAULT_MAX_WAIT = 0.002
DEFAULT_MAX_ROWS = 512


class Batcher:
    def __init__(self, predictor: Predictor, max_wait: float = DEFAULT_MAX_WAIT,
                 max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.predictor = predictor
        self.max_wait = max(0.0, float(max_wait))
        self.max_rows = max(1, int(max_rows))
        self.enabled = self.max_rows > 1
        self._queues: dict[str, deque[Any]] = {}
        self._draining: set[str] = set()
        self._arrivals: dict[str, asyncio.Event] = {}
        self.incoming = 0  # requests being read or checked (they may join a batch)
        self.stats = {"batches": 0, "requests": 0, "max_batch": 0}

    async def submit(self, lm: LoadedModel, item: tuple[dict[str, list[Any]], int, bool]) -> Any:
        """The answer for one checked request (a dict, or an error to raise)."""
        if not self.enabled:
            return self.predictor.predict_many(lm, [item])[0]
        loop = asyncio.get_running_loop()
        vid = lm.version.id
        fut = loop.create_future()
        q = self._queues.get(vid)
        if q is None:
            q = self._queues[vid] = deque()
        q.append((item, fut))
        ev = self._arrivals.get(vid)
        if ev is not None:
            ev.set()
        if vid not in self._draining:
            self._draining.add(vid)
            loop.create_task(self._drain(lm, q))
        return await fut

    async def _drain(self, lm: LoadedModel, q: deque[Any]) -> None:
        vid = lm.version.id
        try:
            while q:
                await asyncio.sleep(0)  # let requests already read reach the queue
                if self.max_wait > 0 and self.incoming > 0 and _rows(q) < self.max_rows:
                    await self._gather(vid, q)
                batch, rows = [], 0
                while q and (not batch or rows + q[0][0][1] <= self.max_rows):
                    entry = q.popleft()
                    batch.append(entry)
                    rows += entry[0][1]
                answers = self.predictor.predict_many(lm, [item for item, _ in batch])
                for (_item, fut), ans in zip(batch, answers, strict=True):
                    if not fut.done():
                        fut.set_result(ans)
                st = self.stats
                st["batches"] += 1
                st["requests"] += len(batch)
                st["max_batch"] = max(st["max_batch"], len(batch))
        except BaseException as e:  # noqa: BLE001 - never leave a request waiting
            while q:
                _item, fut = q.popleft()
                if not fut.done():
                    fut.set_exception(e)
            raise
        finally:
            self._draining.discard(vid)
            if not q:
                self._queues.pop(vid, None)

    async def _gather(self, vid: str, q: deque[Any]) -> None:
        """Wait up to ``max_wait`` for requests being read to join this batch."""
        deadline = time.monotonic() + self.max_wait
        ev = self._arrivals.setdefault(vid, asyncio.Event())
        while self.incoming > 0 and _rows(q) < self.max_rows:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ev.clear()
            try:
                await asyncio.wait_for(ev.wait(), left)
            except TimeoutError:
                return

    def status(self) -> dict[str, Any]:
        st = dict(self.stats)
        st["mean_batch"] = round(st["requests"] / st["batches"], 2) if st["batches"] else 0.0
        return {"max_wait_ms": self.max_wait * 1000, "max_rows": self.max_rows, **st}


def _rows(q: deque[Any]) -> int:
    return sum(entry[0][1] for entry in q)


__all__ = ["Batcher", "DEFAULT_MAX_WAIT", "DEFAULT_MAX_ROWS"]
