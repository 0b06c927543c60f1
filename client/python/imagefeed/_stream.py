"""BatchStream: the iterator Client.batches() returns. It makes skipped samples visible.

Under on_error="skip" (the server's default) a sample that cannot be read or decoded is
left out and listed in its batch's `skipped`. A training loop that only reads `images`
and `labels` would never notice, so the first batch of a stream that reports skipped
samples raises a SkippedSamplesWarning (once per stream: a dataset with many bad files
must not flood the log), and the stream keeps counting them in `skipped_count`.
"""

import warnings


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

    Not thread-safe: iterate it from one thread.
    """

    def __init__(self, batches, dataset):
        self._batches = batches  # a generator that owns the gRPC calls
        self.dataset = dataset
        self.skipped = []

    @property
    def skipped_count(self):
        return len(self.skipped)

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._batches)
        if batch.skipped:
            if not self.skipped:
                self._warn(batch)
            self.skipped.extend(batch.skipped)
        return batch

    def close(self):
        self._batches.close()

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
