#include "server/http/prometheus_text.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "common/test_support.h"

namespace imagefeed {
namespace {

v1::ServerStatus FakeStatus() {
  v1::ServerStatus s;
  s.set_version("0.1.0");
  s.set_uptime_seconds(12.5);
  s.set_threads(2);
  s.set_memory_budget(int64_t{1} << 30);
  s.set_batch_memory_in_use(1048576);
  s.set_batch_memory_capacity(2097152);
  s.set_scratch_memory_in_use(4096);
  s.set_scratch_memory_capacity(8192);
  s.set_memory_peak(3000000);
  s.set_rss_bytes(50000000);
  s.set_max_streams(4);
  s.set_streams_total(3);
  s.set_streams_refused(1);
  s.set_queued_tasks(5);
  s.set_running_tasks(2);
  v1::StageTotals* t = s.mutable_totals();
  t->set_samples(640);
  t->set_read_seconds(0.25);
  t->set_decode_seconds(1.5);
  t->set_resize_seconds(0.75);
  t->set_write_seconds(0.1);
  t->set_wait_client_seconds(3);
  t->set_batches_sent(10);
  t->set_bytes_sent(123456);
  t->set_samples_skipped(3);
  (*t->mutable_skipped_by_reason())["corrupt"] = 2;
  s.add_streams()->set_id(1);
  s.add_streams()->set_id(2);
  v1::DatasetStats* demo = s.add_stats();
  demo->set_dataset("demo");
  demo->set_state(v1::DatasetStats::STATE_READY);
  demo->set_samples_fitted(100);
  demo->set_samples_total(100);
  v1::DatasetStats* odd = s.add_stats();
  odd->set_dataset("we\"ird\\");
  odd->set_state(v1::DatasetStats::STATE_FITTING);
  odd->set_samples_fitted(5);
  odd->set_samples_total(10);
  v1::Histogram* decode = s.add_stage_latency();
  decode->set_name("decode");
  decode->add_upper_bounds(0.001);
  decode->add_upper_bounds(0.01);
  decode->add_counts(3);
  decode->add_counts(7);
  decode->add_counts(9);
  decode->set_sum(0.042);
  decode->set_count(9);
  v1::Histogram* broken = s.add_stage_latency();  // counts do not match the bounds: left out
  broken->set_name("resize");
  broken->add_upper_bounds(0.001);
  broken->add_counts(1);
  return s;
}

// Written by hand from FakeStatus() and the exposition format's rules.
constexpr char kExpected[] = R"(# HELP imagefeed_build_info Always 1; the server's version as a label.
# TYPE imagefeed_build_info gauge
imagefeed_build_info{version="0.1.0"} 1
# HELP imagefeed_uptime_seconds Seconds since the server started.
# TYPE imagefeed_uptime_seconds gauge
imagefeed_uptime_seconds 12.5
# HELP imagefeed_worker_threads Decode/transform worker threads.
# TYPE imagefeed_worker_threads gauge
imagefeed_worker_threads 2
# HELP imagefeed_memory_budget_bytes Memory for batch outputs and decode scratch (--memory_budget).
# TYPE imagefeed_memory_budget_bytes gauge
imagefeed_memory_budget_bytes 1073741824
# HELP imagefeed_memory_bytes Accounted memory by pool (batches: batch outputs; scratch: decode buffers) and kind (in_use, capacity).
# TYPE imagefeed_memory_bytes gauge
imagefeed_memory_bytes{pool="batches",kind="in_use"} 1048576
imagefeed_memory_bytes{pool="batches",kind="capacity"} 2097152
imagefeed_memory_bytes{pool="scratch",kind="in_use"} 4096
imagefeed_memory_bytes{pool="scratch",kind="capacity"} 8192
# HELP imagefeed_memory_peak_bytes Highest accounted memory since start.
# TYPE imagefeed_memory_peak_bytes gauge
imagefeed_memory_peak_bytes 3000000
# HELP imagefeed_resident_memory_bytes Resident set size of the server process.
# TYPE imagefeed_resident_memory_bytes gauge
imagefeed_resident_memory_bytes 50000000
# HELP imagefeed_max_streams Concurrent streams the server admits.
# TYPE imagefeed_max_streams gauge
imagefeed_max_streams 4
# HELP imagefeed_active_streams Streams running now.
# TYPE imagefeed_active_streams gauge
imagefeed_active_streams 2
# HELP imagefeed_streams_total Streams admitted since start.
# TYPE imagefeed_streams_total counter
imagefeed_streams_total 3
# HELP imagefeed_streams_refused_total Streams refused by admission (RESOURCE_EXHAUSTED) since start.
# TYPE imagefeed_streams_refused_total counter
imagefeed_streams_refused_total 1
# HELP imagefeed_queued_tasks Samples waiting for a worker.
# TYPE imagefeed_queued_tasks gauge
imagefeed_queued_tasks 5
# HELP imagefeed_running_tasks Samples being processed by a worker.
# TYPE imagefeed_running_tasks gauge
imagefeed_running_tasks 2
# HELP imagefeed_samples_total Samples that went through the stages (decoded), all streams since start.
# TYPE imagefeed_samples_total counter
imagefeed_samples_total 640
# HELP imagefeed_stage_seconds_total Worker seconds spent per stage (read, decode, resize, write), all samples since start.
# TYPE imagefeed_stage_seconds_total counter
imagefeed_stage_seconds_total{stage="read"} 0.25
imagefeed_stage_seconds_total{stage="decode"} 1.5
imagefeed_stage_seconds_total{stage="resize"} 0.75
imagefeed_stage_seconds_total{stage="write"} 0.1
# HELP imagefeed_wait_client_seconds_total Seconds streams had a batch ready while the client had not taken it (the client is the bottleneck).
# TYPE imagefeed_wait_client_seconds_total counter
imagefeed_wait_client_seconds_total 3
# HELP imagefeed_batches_sent_total Batches sent, all streams since start.
# TYPE imagefeed_batches_sent_total counter
imagefeed_batches_sent_total 10
# HELP imagefeed_sent_bytes_total Tensor bytes sent, all streams since start.
# TYPE imagefeed_sent_bytes_total counter
imagefeed_sent_bytes_total 123456
# HELP imagefeed_samples_skipped_total Samples left out of batches (ON_ERROR_SKIP) by reason.
# TYPE imagefeed_samples_skipped_total counter
imagefeed_samples_skipped_total{reason="corrupt"} 2
imagefeed_samples_skipped_total{reason="unclassified"} 1
# HELP imagefeed_sample_stage_seconds Seconds one sample spent in a stage.
# TYPE imagefeed_sample_stage_seconds histogram
imagefeed_sample_stage_seconds_bucket{stage="decode",le="0.001"} 3
imagefeed_sample_stage_seconds_bucket{stage="decode",le="0.01"} 7
imagefeed_sample_stage_seconds_bucket{stage="decode",le="+Inf"} 9
imagefeed_sample_stage_seconds_sum{stage="decode"} 0.042
imagefeed_sample_stage_seconds_count{stage="decode"} 9
# HELP imagefeed_dataset_stats_state 1 for the state of a dataset's statistics fit (fitting, ready, failed), 0 for the others.
# TYPE imagefeed_dataset_stats_state gauge
imagefeed_dataset_stats_state{dataset="demo",state="fitting"} 0
imagefeed_dataset_stats_state{dataset="demo",state="ready"} 1
imagefeed_dataset_stats_state{dataset="demo",state="failed"} 0
imagefeed_dataset_stats_state{dataset="we\"ird\\",state="fitting"} 1
imagefeed_dataset_stats_state{dataset="we\"ird\\",state="ready"} 0
imagefeed_dataset_stats_state{dataset="we\"ird\\",state="failed"} 0
# HELP imagefeed_dataset_stats_fitted_samples Images of a dataset fitted so far.
# TYPE imagefeed_dataset_stats_fitted_samples gauge
imagefeed_dataset_stats_fitted_samples{dataset="demo"} 100
imagefeed_dataset_stats_fitted_samples{dataset="we\"ird\\"} 5
# HELP imagefeed_dataset_stats_samples Images of a dataset the statistics fit covers.
# TYPE imagefeed_dataset_stats_samples gauge
imagefeed_dataset_stats_samples{dataset="demo"} 100
imagefeed_dataset_stats_samples{dataset="we\"ird\\"} 10
)";

TEST(RenderPrometheusTest, MatchesHandWrittenExposition) { EXPECT_EQ(RenderPrometheus(FakeStatus()), kExpected); }

TEST(RenderPrometheusTest, EmptyStatusHasEveryFamilyAndZeroCounters) {
  const std::string text = RenderPrometheus(v1::ServerStatus());
  EXPECT_THAT(text, testing::HasSubstr("\nimagefeed_samples_total 0\n"));
  EXPECT_THAT(text, testing::HasSubstr("\nimagefeed_active_streams 0\n"));
  EXPECT_THAT(text, testing::HasSubstr("# TYPE imagefeed_sample_stage_seconds histogram\n"));
  EXPECT_THAT(text, testing::Not(testing::HasSubstr("imagefeed_samples_skipped_total{")));
}

TEST(PrometheusNumberTest, ShortestRoundTripAndSpecialValues) {
  EXPECT_EQ(PrometheusNumber(0), "0");
  EXPECT_EQ(PrometheusNumber(0.1), "0.1");
  EXPECT_EQ(PrometheusNumber(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(PrometheusNumber(2.5e-7), "2.5e-07");
  EXPECT_EQ(PrometheusNumber(123456789012.0), "123456789012");
  EXPECT_EQ(PrometheusNumber(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(PrometheusNumber(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(PrometheusNumber(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(EscapeLabelValueTest, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

// Debian's promtool (package prometheus) is the reference parser.
TEST(RenderPrometheusTest, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus): exposition not checked by Prometheus";
  }
  const std::string path = testing::TempDir() + "/imagefeed_metrics.txt";
  std::ofstream(path) << RenderPrometheus(FakeStatus());
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int rc = pclose(pipe);
  // promtool exits 0 and prints nothing when the text parses and every name follows the conventions.
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace imagefeed
