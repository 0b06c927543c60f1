#include "client/cli/exactly_once.h"

#include "common/test_support.h"

namespace imagefeed {
namespace {

v1::StreamBatchesRequest Req(uint32_t rank, uint32_t world, uint64_t start = 0) {
  v1::StreamBatchesRequest r;
  r.set_batch_size(8);
  r.set_rank(rank);
  r.set_world_size(world);
  r.set_start(start);
  return r;
}

v1::Batch MakeBatch(uint64_t position, std::vector<int64_t> ids, std::vector<int64_t> skipped = {}) {
  v1::Batch b;
  b.set_position(position);
  for (int64_t id : ids) b.add_sample_ids(id);
  for (int64_t id : skipped) b.add_skipped()->set_sample_id(id);
  b.set_span(ids.size() + skipped.size());
  return b;
}

TEST(ExpectedPositionsTest, RanksSplitTheDatasetWithSizesDifferingByAtMostOne) {
  EXPECT_EQ(ExpectedPositions(Req(0, 3), 300), 100);
  EXPECT_EQ(ExpectedPositions(Req(0, 3), 10), 4);
  EXPECT_EQ(ExpectedPositions(Req(1, 3), 10), 3);
  EXPECT_EQ(ExpectedPositions(Req(2, 3), 10), 3);
  EXPECT_EQ(ExpectedPositions(Req(0, 0), 10), 10);  // world_size 0 means 1
  EXPECT_EQ(ExpectedPositions(Req(3, 3), 10), std::nullopt);
}

TEST(ExpectedPositionsTest, StartAndDropLast) {
  EXPECT_EQ(ExpectedPositions(Req(0, 1, 95), 100), 5);
  EXPECT_EQ(ExpectedPositions(Req(0, 1, 500), 100), 0);
  v1::StreamBatchesRequest r = Req(0, 1, 3);
  r.set_drop_last(true);
  EXPECT_EQ(ExpectedPositions(r, 100), 96);  // 97 left, whole batches of 8
}

TEST(ExpectedPositionsTest, ValidationSplitTakesTheFloorForValidation) {
  v1::StreamBatchesRequest r = Req(0, 1);
  r.set_validation_split(0.2f);
  r.set_subset(v1::SUBSET_VALIDATION);
  EXPECT_EQ(ExpectedPositions(r, 300), 60);
  EXPECT_EQ(ExpectedPositions(r, 7), 1);  // floor(1.4)
  r.set_subset(v1::SUBSET_TRAINING);
  EXPECT_EQ(ExpectedPositions(r, 300), 240);
  EXPECT_EQ(ExpectedPositions(r, 7), 6);
  r.set_world_size(3);
  r.set_rank(2);
  EXPECT_EQ(ExpectedPositions(r, 300), 80);
}

TEST(ExpectedPositionsTest, SplitProductIsTakenInDoubleLikeTheServer) {
  v1::StreamBatchesRequest r = Req(0, 1);
  r.set_validation_split(0.7f);  // 0.699999988 * 10 is 6.99999988 in double (7 in float)
  r.set_subset(v1::SUBSET_VALIDATION);
  EXPECT_EQ(ExpectedPositions(r, 10), 6);
  r.set_subset(v1::SUBSET_TRAINING);
  EXPECT_EQ(ExpectedPositions(r, 10), 4);
  r.set_validation_split(0.5f);  // exact
  EXPECT_EQ(ExpectedPositions(r, 10), 5);
}

TEST(ExactlyOnceCheckerTest, ACompleteStreamIsOk) {
  ExactlyOnceChecker c(10, 0);
  c.Add(MakeBatch(0, {3, 1, 4}));
  c.Add(MakeBatch(3, {0, 9}, {5}));
  c.Add(MakeBatch(6, {2, 6, 7, 8}));
  DeliveryReport r = c.Report(10);
  EXPECT_EQ(r.batches, 3);
  EXPECT_EQ(r.samples, 9);
  EXPECT_EQ(r.unique, 9);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(r.missing, 0);
  EXPECT_EQ(r.extra, 0);
  EXPECT_TRUE(r.ok());
}

TEST(ExactlyOnceCheckerTest, CountsDuplicatesWithinAndAcrossBatchesAndSkips) {
  ExactlyOnceChecker c(10, 0);
  c.Add(MakeBatch(0, {1, 1, 2}));
  c.Add(MakeBatch(3, {2}, {1}));
  DeliveryReport r = c.Report(std::nullopt);
  EXPECT_EQ(r.samples, 4);
  EXPECT_EQ(r.unique, 2);
  EXPECT_EQ(r.duplicates, 3);
  EXPECT_FALSE(r.missing.has_value());
  EXPECT_FALSE(r.ok());
}

TEST(ExactlyOnceCheckerTest, MissingExtraAndOutOfRangeSamples) {
  ExactlyOnceChecker c(10, 0);
  c.Add(MakeBatch(0, {0, 1, 2}));
  EXPECT_EQ(c.Report(5).missing, 2);
  EXPECT_FALSE(c.Report(5).ok());
  EXPECT_EQ(c.Report(2).extra, 1);
  EXPECT_FALSE(c.Report(2).ok());
  c.Add(MakeBatch(3, {10, -1}));
  EXPECT_EQ(c.Report(3).out_of_range, 2);
  EXPECT_FALSE(c.Report(3).ok());
}

TEST(ExactlyOnceCheckerTest, BatchesMustBeContiguousFromStart) {
  ExactlyOnceChecker c(100, 40);
  c.Add(MakeBatch(40, {1, 2}));
  c.Add(MakeBatch(42, {3, 4}));
  EXPECT_TRUE(c.Report(4).ok());
  c.Add(MakeBatch(45, {5}));  // position 44 never came
  EXPECT_EQ(c.Report(std::nullopt).position_errors, 1);
  v1::Batch bad_span = MakeBatch(46, {6});
  bad_span.set_span(3);
  ExactlyOnceChecker d(100, 46);
  d.Add(bad_span);
  EXPECT_EQ(d.Report(std::nullopt).position_errors, 1);
}

TEST(ExpectedFromDescriptionTest, CountsFromTheStreamsFirstPosition) {
  v1::StreamDescription d;
  d.set_rank_positions(34);
  d.set_first_position(10);
  v1::StreamBatchesRequest r = Req(0, 1);
  EXPECT_EQ(ExpectedFromDescription(d, r), 24);
  r.set_drop_last(true);
  EXPECT_EQ(ExpectedFromDescription(d, r), 24);  // 3 batches of 8
  d.set_first_position(11);
  EXPECT_EQ(ExpectedFromDescription(d, r), 16);  // 23 left: 2 whole batches
  d.set_first_position(40);
  EXPECT_EQ(ExpectedFromDescription(d, r), 0);
}

TEST(ExactlyOnceCheckerTest, PaddedRepeatsAndReplacementsCoverTheirPositions) {
  ExactlyOnceChecker c(10, 0);
  c.Add(MakeBatch(0, {0, 1, 2, 3}));
  // Sample 5 failed and was replaced by 1 (already delivered): slot 1 holds the stand-in.
  v1::Batch b = MakeBatch(4, {4, 1, 6, 7}, {5});
  v1::Replacement* r = b.add_replaced();
  r->set_index(1);
  r->set_original_id(5);
  r->set_replacement_id(1);
  b.set_span(4);
  c.Add(b);
  // Padding: the order wrapped around; slots 2 and 3 repeat 0 and 1.
  v1::Batch p = MakeBatch(8, {8, 9, 0, 1});
  p.add_padded(2);
  p.add_padded(3);
  c.Add(p);
  const DeliveryReport report = c.Report(12);
  EXPECT_EQ(report.duplicates, 0);
  EXPECT_EQ(report.position_errors, 0);
  EXPECT_EQ(report.padded, 2);
  EXPECT_EQ(report.replaced, 1);
  EXPECT_EQ(report.missing, 0);
  EXPECT_EQ(report.extra, 0);
  EXPECT_TRUE(report.ok());
  // Without the markers the same ids are duplicates.
  ExactlyOnceChecker plain(10, 0);
  plain.Add(MakeBatch(0, {0, 1, 2, 3}));
  plain.Add(MakeBatch(4, {8, 9, 0, 1}));
  EXPECT_EQ(plain.Report(8).duplicates, 2);
}

}  // namespace
}  // namespace imagefeed
