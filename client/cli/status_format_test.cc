#include "client/cli/status_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace imagefeed {
namespace {

using ::testing::HasSubstr;

v1::StageTotals Totals(int64_t samples, double read, double decode, double resize, double write) {
  v1::StageTotals t;
  t.set_samples(samples);
  t.set_read_seconds(read);
  t.set_decode_seconds(decode);
  t.set_resize_seconds(resize);
  t.set_write_seconds(write);
  return t;
}

TEST(StatusFormatTest, StageDifferenceSubtractsEveryField) {
  v1::StageTotals before = Totals(10, 1, 2, 3, 4);
  before.set_batches_sent(2);
  before.set_bytes_sent(100);
  (*before.mutable_skipped_by_reason())["corrupt"] = 1;
  v1::StageTotals after = Totals(30, 1.5, 4, 3.25, 5);
  after.set_batches_sent(5);
  after.set_bytes_sent(400);
  after.set_wait_client_seconds(0.75);
  after.set_samples_skipped(3);
  (*after.mutable_skipped_by_reason())["corrupt"] = 3;
  (*after.mutable_skipped_by_reason())["unreadable"] = 2;
  const v1::StageTotals d = StageDifference(before, after);
  EXPECT_EQ(d.samples(), 20);
  EXPECT_DOUBLE_EQ(d.read_seconds(), 0.5);
  EXPECT_DOUBLE_EQ(d.decode_seconds(), 2);
  EXPECT_DOUBLE_EQ(d.resize_seconds(), 0.25);
  EXPECT_DOUBLE_EQ(d.write_seconds(), 1);
  EXPECT_DOUBLE_EQ(d.wait_client_seconds(), 0.75);
  EXPECT_EQ(d.batches_sent(), 3);
  EXPECT_EQ(d.bytes_sent(), 300);
  EXPECT_EQ(d.samples_skipped(), 3);
  EXPECT_EQ(d.skipped_by_reason().at("corrupt"), 2);
  EXPECT_EQ(d.skipped_by_reason().at("unreadable"), 2);
}

TEST(StatusFormatTest, BreakdownGivesPercentOfStageTime) {
  // 0.5 + 3 + 1 + 0.5 = 5 s: read 10%, decode 60%, resize 20%, write 10%.
  v1::StageTotals t = Totals(100, 0.5, 3, 1, 0.5);
  t.set_bytes_sent(3 << 20);
  t.set_samples_skipped(2);
  (*t.mutable_skipped_by_reason())["corrupt"] = 2;
  (*t.mutable_skipped_by_reason())["other"] = 0;
  const std::string s = StageBreakdown(t);
  EXPECT_THAT(s, HasSubstr("over 100 samples"));
  EXPECT_THAT(s, HasSubstr("read        0.500 s   10.0%"));
  EXPECT_THAT(s, HasSubstr("decode      3.000 s   60.0%"));
  EXPECT_THAT(s, HasSubstr("resize      1.000 s   20.0%"));
  EXPECT_THAT(s, HasSubstr("3.0 MiB"));
  EXPECT_THAT(s, HasSubstr("skipped 2: corrupt 2\n"));
}

TEST(StatusFormatTest, StagesJsonHasEveryKey) {
  v1::StageTotals t = Totals(4, 0.25, 0.5, 0, 0);
  (*t.mutable_skipped_by_reason())["corrupt"] = 1;
  JsonWriter j;
  WriteStagesJson(t, &j);
  EXPECT_EQ(j.str(),
            "{\"samples\":4,\"read_seconds\":0.25,\"decode_seconds\":0.5,\"resize_seconds\":0,\"write_seconds\":0,"
            "\"wait_client_seconds\":0,\"batches_sent\":0,\"bytes_sent\":0,\"samples_skipped\":0,"
            "\"skipped_by_reason\":{\"corrupt\":1}}");
}

TEST(StatusFormatTest, ScreenShowsHeaderStreamsAndFitting) {
  v1::ServerStatus st;
  st.set_version("0.1.0");
  st.set_uptime_seconds(75);
  st.set_threads(8);
  st.set_batch_memory_in_use(256 << 20);
  st.set_batch_memory_capacity(1024 << 20);
  st.set_max_streams(16);
  v1::StreamStatus* s = st.add_streams();
  s->set_id(7);
  s->set_peer("ipv4:127.0.0.1:41234");
  s->set_dataset("demo");
  s->set_rank(1);
  s->set_world_size(4);
  s->set_request("batch 64, 224x224 float32 NCHW rescale");
  s->set_position(640);
  s->set_total(2500);
  s->set_samples_per_second(1234.5);
  s->set_batches_ready(2);
  v1::DatasetStats* d = st.add_stats();
  d->set_dataset("demo");
  d->set_state(v1::DatasetStats::STATE_FITTING);
  d->set_samples_fitted(30);
  d->set_samples_total(120);
  const std::string screen = StatusScreen(st);
  EXPECT_THAT(screen, HasSubstr("imagefeed-server 0.1.0  up 1:15  8 threads"));
  EXPECT_THAT(screen, HasSubstr("batches 256.0 MiB / 1.0 GiB (25%)"));
  EXPECT_THAT(screen, HasSubstr("streams: 1 active / 16 max"));
  EXPECT_THAT(screen, HasSubstr("ipv4:127.0.0.1:41234"));
  EXPECT_THAT(screen, HasSubstr("1/4"));
  EXPECT_THAT(screen, HasSubstr("640/2500"));
  EXPECT_THAT(screen, HasSubstr("1234.5"));
  EXPECT_THAT(screen, HasSubstr("demo         fitting 30/120 images (25%)"));
}

TEST(StatusFormatTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(int64_t{3} << 30), "3.0 GiB");
}

TEST(StatusFormatTest, StageSumAddsEveryField) {
  v1::StageTotals a = Totals(10, 1.0, 2.0, 3.0, 4.0), b = Totals(5, 0.5, 0.25, 0.125, 1.0);
  a.set_wait_client_seconds(1.5);
  a.set_batches_sent(3);
  a.set_bytes_sent(300);
  a.set_samples_skipped(2);
  (*a.mutable_skipped_by_reason())["corrupt"] = 2;
  b.set_batches_sent(1);
  b.set_bytes_sent(100);
  b.set_samples_skipped(1);
  (*b.mutable_skipped_by_reason())["corrupt"] = 1;
  (*b.mutable_skipped_by_reason())["too_large"] = 4;
  const v1::StageTotals s = StageSum(a, b);
  EXPECT_EQ(s.samples(), 15);
  EXPECT_DOUBLE_EQ(s.read_seconds(), 1.5);
  EXPECT_DOUBLE_EQ(s.decode_seconds(), 2.25);
  EXPECT_DOUBLE_EQ(s.resize_seconds(), 3.125);
  EXPECT_DOUBLE_EQ(s.write_seconds(), 5.0);
  EXPECT_DOUBLE_EQ(s.wait_client_seconds(), 1.5);
  EXPECT_EQ(s.batches_sent(), 4);
  EXPECT_EQ(s.bytes_sent(), 400);
  EXPECT_EQ(s.samples_skipped(), 3);
  EXPECT_EQ(s.skipped_by_reason().at("corrupt"), 3);
  EXPECT_EQ(s.skipped_by_reason().at("too_large"), 4);
}

}  // namespace
}  // namespace imagefeed
