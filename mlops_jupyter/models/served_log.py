"""Served inputs and predictions, kept as dataset versions for drift and retraining.

A model server that logs what it served closes the loop: ``mj.drift("train@v1",
"served@latest")`` compares live traffic with the training data, and the retrain
template can train on it. Requests are buffered in memory and written as one new
version of the named dataset per batch (every ``every_rows`` rows or ``every_seconds``,
and when the server stops), so the request path never waits for the store. Logging
never fails a request: a failed write is reported in the server log and the batch is
kept for the next attempt (bounded, so memory cannot grow without limit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from mlops_jupyter.names import entity_name

log = logging.getLogger("mlops_jupyter.serving")

#: columns added beside the model's inputs
PREDICTION, VERSION, SERVED_AT = "served_prediction", "served_version", "served_at"
MAX_PENDING_ROWS = 1_000_000


class ServedLog:
    def __init__(self, name: str, every_rows: int = 1000, every_seconds: float = 60.0) -> None:
        self.name = entity_name(name, kind="dataset name")
        self.every_rows = max(1, int(every_rows))
        self.every_seconds = float(every_seconds)
        self._batches: list[Any] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last = time.monotonic()
        self._stop = threading.Event()
        self.versions: list[str] = []
        self._timer = threading.Thread(target=self._tick, name="mlops-served-log", daemon=True)
        self._timer.start()

    def record(self, columns: Mapping[str, Any], predictions: Any, ref: str) -> None:
        """Keep one request's (or one batch's) rows; cheap: the frame is built when the
        batch is written, off the request path."""
        n = len(next(iter(columns.values()))) if columns else 0
        with self._lock:
            if self._rows + n > MAX_PENDING_ROWS:
                log.warning("served-input log %s is full (store unreachable?); dropping a batch", self.name)
                return
            self._batches.append((dict(columns), predictions, ref, time.time()))
            self._rows += n
            due = self._rows >= self.every_rows
        if due:
            threading.Thread(target=self.flush, daemon=True).start()

    @staticmethod
    def _frame(entry: Any) -> Any:
        import pandas as pd

        if isinstance(entry, pd.DataFrame):
            return entry
        columns, predictions, ref, at = entry
        frame = pd.DataFrame(columns)
        if len(predictions) == len(frame):
            preds = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
            frame[PREDICTION] = [str(p) if isinstance(p, list | dict) else p for p in preds]
        frame[VERSION] = ref
        frame[SERVED_AT] = pd.Timestamp(at, unit="s", tz="UTC")
        return frame

    def _tick(self) -> None:
        while not self._stop.wait(min(self.every_seconds, 5.0)):
            if self._rows and time.monotonic() - self._last >= self.every_seconds:
                self.flush()

    def flush(self) -> str | None:
        """Write what is buffered as a new dataset version; return its ref (or None)."""
        import pandas as pd

        from mlops_jupyter import datasets

        with self._flush_lock:
            with self._lock:
                batches, self._batches, self._rows = self._batches, [], 0
            if not batches:
                return None
            try:
                frame = pd.concat([self._frame(b) for b in batches], ignore_index=True)
            except Exception as e:  # noqa: BLE001 - a malformed batch is dropped, not retried
                log.warning("could not assemble served inputs for %s: %s", self.name, e)
                return None
            try:
                v = datasets.add(
                    frame, name=self.name,
                    description=f"{len(frame)} served requests rows ({', '.join(sorted(set(frame[VERSION])))})",
                )
            except Exception as e:  # noqa: BLE001 - never fail serving over the log
                log.warning("could not write served inputs to %s: %s", self.name, e)
                with self._lock:
                    self._batches.insert(0, frame)
                    self._rows += len(frame)
                return None
            self._last = time.monotonic()
            self.versions.append(v.ref)
            return v.ref

    def close(self) -> str | None:
        self._stop.set()
        return self.flush()
