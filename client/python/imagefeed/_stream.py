"""BatchStream: the iterator Client.batches() returns. It makes skipped samples visible.

Under on_error="skip" (the server's default) a sample that cannot be read or decoded is
left out and listed in its batch's `skipped`. A training loop that only reads `images`
and `labels` would never notice, so the first batch of a stream that reports skipped
samples raises a SkippedSamplesWarning (once per stream: a dataset with many bad files
must not flood the log), and the stream keeps counting them in `skipped_count`.

It also times the consumer's loop (see _stall.py): stall_report() says how much of the loop's
time went into waiting for batches.
"""

import warnings

from imagefeed._stall import Timer


class SkippedSamplesWarning(UserWarning):
    """A stream left out samples it could not read or decode (on_error="skip").

    Strict pipelines can turn it into an error:
    warnings.simplefilter("error", imagefeed.SkippedSamplesWarning), or pass on_error="fail".
    """


class BatchStream:
    """An iterator of imagefeed.Batch over one stream (one or several servers).

    skipped_count  samples the server reported skipped in the batches delivered so far.
    skipped        their {sample_id, path, reason} dicts, in delivery order.
    close()        cancels the stream (so does dropping the last reference to it).
    stall_report() an imagefeed.StallReport: time spent waiting in next() versus between
                   batches (the trainer's step), and the first batch's wait.
    cursor         token of the last delivered batch (before any: the resume= token the
                   stream started from, or None); resume=stream.cursor continues after it.
    state_dict()   {"cursor": token, "epoch": e, "batches": n delivered}; resume= takes it.
    failovers      list of (server, error) for every server that failed during the stream
                   (the stream continued on the others); failover_count is its length.
    servers        the servers of the stream's current attempt.
    transports     {server: "shm" or "grpc"}: how each server's batches arrived (see
                   Client(transport=...)), for the servers that delivered a batch.

    Not thread-safe: iterate it from one thread.
    """

    def __init__(self, batches, dataset, timer=None, state=None, initial_cursor=None, epoch=0):
        self._batches = batches  # a generator that owns the gRPC calls
        self.dataset = dataset
        self.skipped = []
        self._timer = timer or Timer()
        self._state = state
        self._cursor = initial_cursor
        self._epoch = epoch
        self._delivered = 0

    @property
    def cursor(self):
        return self._cursor

    def state_dict(self):
        return {"cursor": self._cursor, "epoch": self._epoch, "batches": self._delivered}

    @property
    def failovers(self):
        return list(self._state.failovers) if self._state is not None else []

    @property
    def failover_count(self):
        return len(self._state.failovers) if self._state is not None else 0

    @property
    def transports(self):
        return dict(self._state.transports) if self._state is not None else {}

    @property
    def servers(self):
        return list(self._state.servers) if self._state is not None else []

    @property
    def skipped_count(self):
        return len(self.skipped)

    def __iter__(self):
        return self

    def __next__(self):
        batch = self._timer.next_item(self._batches)
        self._delivered += 1
        if batch.cursor is not None:
            self._cursor = batch.cursor
        if batch.skipped:
            if not self.skipped:
                self._warn(batch)
            self.skipped.extend(batch.skipped)
        return batch

    def stall_report(self, include_first_batch=False):
        """This stream's StallReport so far. The first batch's wait (start-up latency) is
        reported as first_batch_seconds and left out of wait_seconds and stall_fraction
        unless include_first_batch. Time after the last batch counts only once the loop
        calls next() again (a loop that breaks early ends its measurement at its last batch)."""
        return self._timer.meter.report(include_first_batch)

    def close(self):
        self._batches.close()
        self._timer.close()

    def __del__(self):
        # A loop that breaks out drops the stream: its summary (report_stalls) is due now.
        try:
            self._timer.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _warn(self, batch):
        first = batch.skipped[0]
        source = f" from {batch.target}" if batch.target else ""
        warnings.warn(
            f"imagefeed: {len(batch.skipped)} sample(s) of dataset {self.dataset!r} skipped in the batch "
            f"at position {batch.position}{source}; first: sample {first['sample_id']} "
            f"{first['path']}: {first['reason']}. The stream goes on without them (on_error='skip'); "
            f"this warning is shown once per stream: the stream's skipped_count and skipped, and each "
            f"batch.skipped, list them all; on_error='fail' ends the stream at a bad sample instead.",
            SkippedSamplesWarning, stacklevel=3)
