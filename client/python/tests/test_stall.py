"""Data-stall reports (stall_report, report_stalls, measure_stalls) against a real server.

The consumers sleep: that is their workload (the trainer's step), whose length the report must
recover. Wall-clock checks use bounds sleeps cannot undershoot and generous upper bounds for a
loaded 2-core machine.
"""

import logging
import re
import time

import pytest

import imagefeed
from conftest import NUM_SAMPLES

STEP = 0.02  # seconds of "training" per batch
TIME = r"[0-9.e+-]+ m?s"
LINE = re.compile(rf"^imagefeed: the trainer waited for data \d+\.\d % of the time \({TIME} of {TIME} over "
                  rf"\d+ batches; first batch {TIME}(; p95 wait {TIME})?\)$")


def timed_loop(stream, step=0.0):
    """Runs `for batch in stream: sleep(step)`; returns (batches, loop wall time, sleeps)."""
    batches, slept = 0, 0.0
    start = time.perf_counter()
    for _ in stream:
        if step:
            t = time.perf_counter()
            time.sleep(step)
            slept += time.perf_counter() - t
        batches += 1
    return batches, time.perf_counter() - start, slept


def summary_lines(text):
    return [line for line in text.splitlines() if line.startswith("imagefeed: ")]


def test_busy_consumer_is_not_data_bound_and_compute_is_its_steps(server):
    stream = imagefeed.Client(server).batches("tiny", batch_size=1, size=(32, 32))
    batches, elapsed, slept = timed_loop(stream, STEP)
    r = stream.stall_report()
    assert batches == NUM_SAMPLES and r.batches == NUM_SAMPLES and r.streams == 1
    # Every sleep but the one after the last batch ends before a next() call that is timed
    # (the last one too: the loop's final next() finds the end of the stream).
    assert slept <= r.compute_seconds <= slept * 1.5 + 0.05
    assert r.stall_fraction < 0.25, r  # the server prepares the next batch during each step
    # wait + compute + first batch is the loop's wall time, measured here independently.
    total = r.wait_seconds + r.compute_seconds + r.first_batch_seconds
    assert abs(total - elapsed) <= 0.02 * elapsed + 0.005, (total, elapsed)
    assert 0 < r.first_batch_seconds < elapsed
    assert 0 <= r.p50_wait_seconds <= r.p95_wait_seconds <= r.wait_seconds
    with_first = stream.stall_report(include_first_batch=True)
    assert with_first.wait_seconds == pytest.approx(r.wait_seconds + r.first_batch_seconds)
    assert with_first.stall_fraction > r.stall_fraction


def test_consumer_without_work_is_data_bound(server):
    stream = imagefeed.Client(server).batches("tiny", batch_size=1, size=(32, 32))
    batches, elapsed, _ = timed_loop(stream)
    r = stream.stall_report()
    assert batches == r.batches == NUM_SAMPLES
    assert r.stall_fraction > 0.5, r  # receiving a batch takes longer than doing nothing with it
    total = r.wait_seconds + r.compute_seconds + r.first_batch_seconds
    assert abs(total - elapsed) <= 0.05 * elapsed + 0.005, (total, elapsed)


def test_client_report_adds_up_its_streams_and_resets(server):
    client = imagefeed.Client(server)
    streams = [client.batches("tiny", batch_size=4, epoch=e) for e in range(2)]
    for s in streams:
        timed_loop(s, STEP / 4)
    parts = [s.stall_report() for s in streams]
    whole = client.stall_report()
    assert whole.batches == sum(p.batches for p in parts) == 2 * 6
    assert whole.streams == 2
    for field in ("wait_seconds", "compute_seconds", "first_batch_seconds"):
        assert getattr(whole, field) == pytest.approx(sum(getattr(p, field) for p in parts), rel=1e-9)
    assert "on average over 2 streams" in str(whole)
    assert client.stall_report(reset=True) == whole
    assert client.stall_report().batches == 0 and client.stall_report().wait_seconds == 0
    assert streams[0].stall_report() == parts[0]  # a stream's own report is not reset


def test_summary_line_once_per_epoch_only_when_asked(server, capsys, caplog):
    quiet = imagefeed.Client(server)
    for epoch in range(2):
        timed_loop(quiet.batches("tiny", batch_size=8, epoch=epoch))
    assert summary_lines(capsys.readouterr().err) == []
    assert not [r for r in caplog.records if r.name == "imagefeed"]

    loud = imagefeed.Client(server, report_stalls=True)
    for epoch in range(2):
        stream = loud.batches("tiny", batch_size=8, epoch=epoch)
        timed_loop(stream)
        stream.close()  # after the end: still one line
        lines = summary_lines(capsys.readouterr().err)
        assert len(lines) == 1 and LINE.match(lines[0]), lines
        assert lines[0] == str(stream.stall_report())
        assert "over 3 batches" in lines[0]

    # A loop that breaks out: the line comes when the stream is dropped (or closed).
    for batch in loud.batches("tiny", batch_size=8):
        break
    del batch
    lines = summary_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "over 1 batches" in lines[0], lines


def test_summary_goes_to_logging_when_logging_shows_it(server, capsys, caplog):
    caplog.set_level(logging.INFO, logger="imagefeed")
    timed_loop(imagefeed.Client(server, report_stalls=True).batches("tiny", batch_size=8))
    records = [r for r in caplog.records if r.name == "imagefeed"]
    assert len(records) == 1 and LINE.match(records[0].getMessage())
    assert summary_lines(capsys.readouterr().err) == []


def slow_source(delays):
    """Yields len(delays) items, sleeping delays[i] before item i: a producer whose waits are known."""
    for i, d in enumerate(delays):
        time.sleep(d)
        yield i


def test_measure_stalls_percentiles_and_first_batch_by_hand():
    # The first item is start-up; then 7 waits of >= 10 ms and 2 of >= 80 ms. Nearest-rank
    # percentiles of the 9: p50 is the 5th smallest (a 10 ms one), p95 the 9th (an 80 ms one).
    timed = imagefeed.measure_stalls(slow_source([0.15] + [0.01] * 7 + [0.08] * 2))
    assert list(timed) == list(range(10))
    r = timed.stall_report()
    assert r.batches == 10 and r.streams == 1
    assert 0.15 <= r.first_batch_seconds < 0.15 + 0.2
    assert 0.01 <= r.p50_wait_seconds < 0.04
    assert 0.08 <= r.p95_wait_seconds < 0.08 + 0.2
    assert 7 * 0.01 + 2 * 0.08 <= r.wait_seconds < 7 * 0.01 + 2 * 0.08 + 0.3
    assert r.stall_fraction > 0.9  # the loop did nothing else


def test_reservoir_keeps_the_last_1024_waits():
    # After the first: 100 waits of >= 5 ms, then 1024 of next to nothing. Over all 1124 the
    # p95 would be a slow one (100 > 5 %); over the last 1024 it is a fast one.
    timed = imagefeed.measure_stalls(slow_source([0.0] + [0.005] * 100 + [0.0] * 1024))
    list(timed)
    r = timed.stall_report()
    assert r.batches == 1125
    assert r.p95_wait_seconds < 0.005
    assert r.wait_seconds >= 100 * 0.005  # the totals still count every wait


def test_report_line_by_hand():
    r = imagefeed.StallReport(batches=120, streams=1, wait_seconds=0.42, compute_seconds=13.08,
                              first_batch_seconds=0.21, p50_wait_seconds=0.002, p95_wait_seconds=0.012)
    assert r.stall_fraction == pytest.approx(0.42 / 13.5)
    assert str(r) == ("imagefeed: the trainer waited for data 3.1 % of the time (0.42 s of 13.5 s "
                      "over 120 batches; first batch 0.21 s; p95 wait 12 ms)")
    quick = imagefeed.StallReport(batches=3, streams=1, wait_seconds=0.0049, compute_seconds=0.0002,
                                  first_batch_seconds=0.0123, p95_wait_seconds=0.00031)
    assert str(quick) == ("imagefeed: the trainer waited for data 96.1 % of the time (4.9 ms of 5.1 ms "
                          "over 3 batches; first batch 12 ms; p95 wait 0.31 ms)")
    assert imagefeed.StallReport().stall_fraction == 0.0
    assert "no batches measured" in str(imagefeed.StallReport())
