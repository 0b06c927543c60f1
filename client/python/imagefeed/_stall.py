"""Data-stall measurement: is the training loop waiting for data?

A consumer loop alternates between waiting inside `next()` for the next batch ("wait") and
working on the batch it got ("compute": the time from one `next()` returning to the next
`next()` call, i.e. the trainer's step). stall_fraction = wait / (wait + compute) is the share
of the loop's time spent waiting for data. The first batch's wait is start-up latency
(connecting, indexing, filling the pipeline) and is reported apart, outside the fraction
unless asked for.

The timer costs two perf_counter() calls, a few float additions and one uncontended lock per
batch and meter; per-batch waits go into a fixed ring of the last RESERVOIR waits, from which
p50/p95 are taken.
"""

import dataclasses
import logging
import math
import sys
import threading
from time import perf_counter  # a local name: looked up once per batch, not as time.perf_counter

RESERVOIR = 1024  # per-batch waits kept for the percentiles

_log = logging.getLogger("imagefeed")


@dataclasses.dataclass(frozen=True)
class StallReport:
    """How long a consumer waited for data versus worked between batches.

    batches              batches delivered (the first included).
    streams              streams (epochs) that delivered a first batch.
    wait_seconds         time inside next() waiting for batches after the first (and for the
                         end of the stream), or including the first batch if the report was
                         made with include_first_batch=True.
    compute_seconds      time between a batch being returned and the next next() call.
    first_batch_seconds  total wait for the first batch of each stream (start-up latency).
    stall_fraction       wait / (wait + compute); 0 when nothing was measured.
    p50_wait_seconds, p95_wait_seconds  per-batch waits (first batches excluded) over the
                         last 1024 batches; None before the second batch.
    who                  whose waiting this is ("the trainer", "DataLoader worker 0 of 2").
    """

    batches: int = 0
    streams: int = 0
    wait_seconds: float = 0.0
    compute_seconds: float = 0.0
    first_batch_seconds: float = 0.0
    p50_wait_seconds: float = None
    p95_wait_seconds: float = None
    who: str = "the trainer"

    @property
    def stall_fraction(self):
        total = self.wait_seconds + self.compute_seconds
        return self.wait_seconds / total if total > 0 else 0.0

    def __str__(self):
        if self.batches == 0:
            return (f"imagefeed: no batches measured for {self.who} in this process (with DataLoader "
                    f"workers the streams run in the workers: wrap the loader, "
                    f"imagefeed.measure_stalls(loader), to measure the trainer's side)")
        total = self.wait_seconds + self.compute_seconds
        first = f"first batch {_duration(self.first_batch_seconds / max(self.streams, 1))}"
        if self.streams > 1:
            first += f" on average over {self.streams} streams"
        p95 = "" if self.p95_wait_seconds is None else f"; p95 wait {_duration(self.p95_wait_seconds)}"
        return (f"imagefeed: {self.who} waited for data {100 * self.stall_fraction:.1f} % of the time "
                f"({_duration(self.wait_seconds)} of {_duration(total)} over {self.batches} batches; "
                f"{first}{p95})")


def _duration(seconds):
    """3 significant digits, in ms below 0.1 s: 13.5 s, 0.42 s, 12 ms, 0.31 ms."""
    if seconds < 0.1:
        ms = seconds * 1e3
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2g} ms"
    return f"{seconds:.3g} s" if seconds < 1000 else f"{seconds:.0f} s"


def _percentile(ordered, q):
    """Nearest-rank percentile of a sorted non-empty list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Meter:
    """Totals of waits and compute times; thread-safe (one lock), so that several streams
    may feed one meter (a Client's, a dataset's)."""

    def __init__(self, who="the trainer"):
        self.who = who
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._batches = self._streams = 0
            self._wait = self._compute = self._first = 0.0
            self._waits = [0.0] * RESERVOIR
            self._recorded = 0  # waits ever recorded; the ring holds the last RESERVOIR

    def add_first(self, wait):
        with self._lock:
            self._streams += 1
            self._batches += 1
            self._first += wait

    def add_batch(self, wait, compute):
        with self._lock:
            self._batches += 1
            self._wait += wait
            self._compute += compute
            self._waits[self._recorded % RESERVOIR] = wait
            self._recorded += 1

    def add_end(self, wait, compute):
        """The last next() call, which found the stream's end (or an error): its wait and the
        compute before it count, but it delivered no batch."""
        with self._lock:
            self._wait += wait
            self._compute += compute

    def report(self, include_first_batch=False, reset=False):
        with self._lock:
            waits = sorted(self._waits[:min(self._recorded, RESERVOIR)])
            report = StallReport(
                batches=self._batches, streams=self._streams,
                wait_seconds=self._wait + (self._first if include_first_batch else 0.0),
                compute_seconds=self._compute, first_batch_seconds=self._first,
                p50_wait_seconds=_percentile(waits, 0.5) if waits else None,
                p95_wait_seconds=_percentile(waits, 0.95) if waits else None, who=self.who)
        if reset:
            self.reset()
        return report


def emit(line):
    """The per-stream summary line: to the "imagefeed" logger at INFO when logging would show
    it, else to stderr (the user asked for it with report_stalls=True)."""
    if _log.isEnabledFor(logging.INFO) and _log.hasHandlers():
        _log.info("%s", line)
    else:
        print(line, file=sys.stderr, flush=True)


class Timer:
    """Times one iterator's next() calls into its own Meter and any shared ones.

    Not thread-safe (one iterator, one consumer thread). report_stalls: emit one summary line
    when the iterator ends or is closed, if it delivered anything.
    """

    def __init__(self, shared=(), report_stalls=False, who="the trainer"):
        self.meter = Meter(who)
        self._meters = (self.meter,) + tuple(shared)
        self._report_stalls = report_stalls
        self._last = None  # when the previous batch was returned
        self._ended = False
        self._began = None  # see first_wait_began

    def set_who(self, who):
        self.meter.who = who

    def also_record_into(self, meter):
        self._meters += (meter,)

    def first_wait_began(self, when):
        """The consumer began waiting for the first batch at perf_counter() time `when`, before
        the first next() (a generator that connects first, as ImageFeedDataset's does)."""
        self._began = when

    def next_item(self, iterator):
        start = perf_counter()
        if self._last is None and self._began is not None:
            start = self._began
        try:
            item = next(iterator)
        except BaseException:
            self._end(start)
            raise
        now = perf_counter()
        if self._last is None:
            for m in self._meters:
                m.add_first(now - start)
        else:
            for m in self._meters:
                m.add_batch(now - start, start - self._last)
        self._last = now
        return item

    def _end(self, start):
        if self._ended:
            return
        self._ended = True
        if self._last is not None:
            now = perf_counter()
            for m in self._meters:
                m.add_end(now - start, start - self._last)
        self.close()

    def close(self):
        """The iterator is finished: emit the summary once (if asked for and not empty)."""
        self._ended = True
        if self._report_stalls and self._last is not None:
            self._report_stalls = False
            emit(str(self.meter.report()))


class TimedIterator:
    """Wraps any iterable (a torch DataLoader, a BatchStream) and times the consumer's loop over
    it: see imagefeed.measure_stalls."""

    def __init__(self, iterable, report_stalls=False, who="the trainer"):
        self._iterator = iter(iterable)
        self._timer = Timer(report_stalls=report_stalls, who=who)

    def __iter__(self):
        return self

    def __next__(self):
        return self._timer.next_item(self._iterator)

    def stall_report(self, include_first_batch=False):
        return self._timer.meter.report(include_first_batch)


def measure_stalls(iterable, report_stalls=False):
    """Iterates `iterable` and measures how long the consumer waits for each item versus how
    long it works between items:

        loader = imagefeed.measure_stalls(torch_dataloader)   # one epoch
        for images, labels in loader: ...
        print(loader.stall_report())   # imagefeed: the trainer waited for data 3.1 % of the time (...)

    Use it for a DataLoader with worker processes, where the imagefeed streams (and their own
    stall reports) live in the workers. report_stalls: print the one-line summary at the end.
    """
    return TimedIterator(iterable, report_stalls=report_stalls)
