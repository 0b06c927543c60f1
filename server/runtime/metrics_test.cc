#include "server/runtime/metrics.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace imagefeed {
namespace {

using std::chrono::milliseconds;

TEST(LatencyHistogramTest, BucketsAreCumulativeAndInclusive) {
  LatencyHistogram h;
  h.Observe(50'000);          // 0.05 ms -> <= 0.1 ms
  h.Observe(100'000);         // exactly 0.1 ms -> <= 0.1 ms (upper bounds are inclusive)
  h.Observe(3'000'000);       // 3 ms -> <= 5 ms
  h.Observe(20'000'000'000);  // 20 s -> +Inf
  const LatencyHistogram::Snapshot s = h.Read();
  const auto& b = LatencyHistogram::UpperBounds();
  ASSERT_DOUBLE_EQ(b[0], 0.0001);
  ASSERT_DOUBLE_EQ(b[5], 0.005);
  ASSERT_DOUBLE_EQ(b[LatencyHistogram::kNumBounds - 1], 10.0);
  EXPECT_EQ(s.cumulative[0], 2);
  EXPECT_EQ(s.cumulative[4], 2);  // <= 2.5 ms
  EXPECT_EQ(s.cumulative[5], 3);  // <= 5 ms
  EXPECT_EQ(s.cumulative[LatencyHistogram::kNumBounds - 1], 3);  // <= 10 s
  EXPECT_EQ(s.cumulative[LatencyHistogram::kNumBounds], 4);      // +Inf
  EXPECT_EQ(s.count, 4);
  EXPECT_NEAR(s.sum_seconds, 0.00005 + 0.0001 + 0.003 + 20.0, 1e-12);
}

TEST(StageCountersTest, SumsStagesSkipsAndBatches) {
  StageCounters c;
  SampleTimings a, b;
  a.ns = {1'000'000, 2'000'000, 3'000'000, 4'000'000};
  b.ns = {500'000, 0, 250'000, 0};
  c.AddSample(a);
  c.AddSample(b);
  c.AddSkip(SkipReason::kCorrupt);
  c.AddSkip(SkipReason::kCorrupt);
  c.AddSkip(SkipReason::kTooLarge);
  c.AddWaitClient(7'000'000);
  c.AddBatchSent(1000, 2);
  c.AddBatchSent(24, 1);
  const StageSnapshot s = c.Read();
  EXPECT_EQ(s.samples, 2);
  EXPECT_DOUBLE_EQ(s.seconds[0], 0.0015);
  EXPECT_DOUBLE_EQ(s.seconds[1], 0.002);
  EXPECT_DOUBLE_EQ(s.seconds[2], 0.00325);
  EXPECT_DOUBLE_EQ(s.seconds[3], 0.004);
  EXPECT_DOUBLE_EQ(s.wait_client_seconds, 0.007);
  EXPECT_EQ(s.batches_sent, 2);
  EXPECT_EQ(s.bytes_sent, 1024);
  EXPECT_EQ(s.samples_sent, 3);
  EXPECT_EQ(s.skipped[static_cast<int>(SkipReason::kCorrupt)], 2);
  EXPECT_EQ(s.skipped[static_cast<int>(SkipReason::kTooLarge)], 1);
  EXPECT_EQ(s.samples_skipped(), 3);
}

TEST(StageCountersTest, ConcurrentAddsAreNotLost) {
  StageCounters c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      SampleTimings one;
      one.ns = {1, 1, 1, 1};
      for (int i = 0; i < 10000; ++i) c.AddSample(one);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Read().samples, 40000);
  EXPECT_DOUBLE_EQ(c.Read().seconds[2], 40000e-9);
}

TEST(StreamMetricsTest, FeedsStreamAndServer) {
  ServerMetrics server;
  StreamMetrics one(&server), two(&server);
  SampleTimings t;
  t.ns = {0, 2'000'000, 0, 0};  // 2 ms decode
  one.AddSample(t);
  two.AddSample(t);
  two.AddSkip(SkipReason::kUnreadable);
  one.AddBatchSent(100, 1);
  EXPECT_EQ(one.counters().Read().samples, 1);
  EXPECT_EQ(server.totals.Read().samples, 2);
  EXPECT_EQ(server.totals.Read().skipped[static_cast<int>(SkipReason::kUnreadable)], 1);
  EXPECT_EQ(server.totals.Read().bytes_sent, 100);
  const auto decode = server.latency[static_cast<int>(Stage::kDecode)].Read();
  EXPECT_EQ(decode.count, 2);
  EXPECT_EQ(decode.cumulative[3], 0);  // <= 1 ms
  EXPECT_EQ(decode.cumulative[4], 2);  // <= 2.5 ms
}

TEST(RateMeterTest, EventsOverTheWindow) {
  RateMeter r;
  const auto t0 = RateMeter::Clock::now();
  EXPECT_EQ(r.PerSecond(t0), 0);
  r.Add(10, t0);
  // Half a second in: 10 events over at least one second.
  EXPECT_DOUBLE_EQ(r.PerSecond(t0 + milliseconds(500)), 10.0);
  r.Add(30, t0 + milliseconds(2500));
  // 3.5 s in: 40 events over 3.5 s.
  EXPECT_DOUBLE_EQ(r.PerSecond(t0 + milliseconds(3500)), 40.0 / 3.5);
  // 6.5 s in: the window is seconds 2..6 (4.5 s); second 0 has left it.
  EXPECT_DOUBLE_EQ(r.PerSecond(t0 + milliseconds(6500)), 30.0 / 4.5);
  // 20 s in: nothing recent.
  EXPECT_DOUBLE_EQ(r.PerSecond(t0 + milliseconds(20000)), 0.0);
}

TEST(ClassifySkipTest, ReasonClasses) {
  EXPECT_EQ(ClassifySkip(absl::NotFoundError("cannot open 'a.jpg': No such file")), SkipReason::kUnreadable);
  EXPECT_EQ(ClassifySkip(absl::PermissionDeniedError("cannot open")), SkipReason::kUnreadable);
  EXPECT_EQ(ClassifySkip(absl::InvalidArgumentError("JPEG data truncated")), SkipReason::kCorrupt);
  EXPECT_EQ(ClassifySkip(absl::InvalidArgumentError("not a JPEG or PNG file (empty input)")),
            SkipReason::kUnsupported);
  EXPECT_EQ(ClassifySkip(absl::InvalidArgumentError("JPEG has unsupported precision: 12")),
            SkipReason::kUnsupported);
  EXPECT_EQ(ClassifySkip(absl::InvalidArgumentError("PNG image is 9x9 = 81 pixels, more than the cap of 10 pixels")),
            SkipReason::kTooLarge);
  EXPECT_EQ(ClassifySkip(absl::ResourceExhaustedError("needs 9 bytes, more than the budget")), SkipReason::kTooLarge);
  EXPECT_EQ(ClassifySkip(absl::InternalError("oops")), SkipReason::kOther);
  EXPECT_STREQ(SkipReasonName(SkipReason::kTooLarge), "too_large");
  EXPECT_STREQ(StageName(Stage::kResize), "resize");
}

}  // namespace
}  // namespace imagefeed
