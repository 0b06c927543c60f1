#include "server/pipeline/sample_order.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "common/test_support.h"

namespace imagefeed {
namespace {

OrderSpec Spec(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch, uint32_t rank, uint32_t world, uint64_t start) {
  OrderSpec s;
  s.num_samples = n;
  s.shuffle = shuffle;
  s.seed = seed;
  s.epoch = epoch;
  s.rank = rank;
  s.world_size = world;
  s.start = start;
  return s;
}

TEST(SampleOrderTest, UnshuffledIsAscendingAndInterleaved) {
  OrderSpec spec = Spec(10, false, 0, 0, 1, 3, 0);
  ASSERT_OK_AND_ASSIGN(auto seq, RankSequence(spec));
  EXPECT_THAT(seq, ::testing::ElementsAre(1, 4, 7));
  spec.rank = 0;
  ASSERT_OK_AND_ASSIGN(seq, RankSequence(spec));
  EXPECT_THAT(seq, ::testing::ElementsAre(0, 3, 6, 9));
}

TEST(SampleOrderTest, ShuffleIsAPermutationDeterminedBySeedAndEpoch) {
  auto a = EpochOrder(1000, true, 7, 0);
  auto b = EpochOrder(1000, true, 7, 0);
  auto c = EpochOrder(1000, true, 7, 1);
  auto d = EpochOrder(1000, true, 8, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, EpochOrder(1000, false, 7, 0));
  // Not the identity, and not merely rotated.
  EXPECT_NE(a, sorted);
}

TEST(SampleOrderTest, RanksPartitionEveryEpochExactlyOnce) {
  for (int64_t n : {0, 1, 2, 7, 64, 101, 1000}) {
    for (uint32_t w : {1u, 2u, 3u, 8u, 13u}) {
      for (uint64_t seed : {0ull, 1ull, 12345ull}) {
        std::multiset<int64_t> all;
        int64_t min_size = INT64_MAX, max_size = 0;
        for (uint32_t r = 0; r < w; ++r) {
          OrderSpec spec = Spec(n, true, seed, 3, r, w, 0);
          ASSERT_OK_AND_ASSIGN(auto seq, RankSequence(spec));
          EXPECT_EQ(static_cast<int64_t>(seq.size()), RankSize(n, r, w));
          min_size = std::min<int64_t>(min_size, seq.size());
          max_size = std::max<int64_t>(max_size, seq.size());
          all.insert(seq.begin(), seq.end());
        }
        ASSERT_EQ(static_cast<int64_t>(all.size()), n) << n << " " << w;
        std::set<int64_t> unique(all.begin(), all.end());
        ASSERT_EQ(unique.size(), all.size()) << "duplicates for n=" << n << " w=" << w;
        if (n > 0) {
          EXPECT_EQ(*unique.begin(), 0);
          EXPECT_EQ(*unique.rbegin(), n - 1);
        }
        EXPECT_LE(max_size - min_size, 1);
      }
    }
  }
}

TEST(SampleOrderTest, ResumeIsASuffix) {
  OrderSpec spec = Spec(97, true, 42, 5, 2, 4, 0);
  ASSERT_OK_AND_ASSIGN(auto full, RankSequence(spec));
  for (uint64_t start : {0ull, 1ull, 10ull, 23ull, 24ull, 25ull, 1000ull}) {
    spec.start = start;
    ASSERT_OK_AND_ASSIGN(auto rest, RankSequence(spec));
    std::vector<int64_t> expected(full.begin() + std::min<size_t>(start, full.size()), full.end());
    EXPECT_EQ(rest, expected) << start;
  }
}

TEST(SampleOrderTest, InvalidRanks) {
  OrderSpec spec = Spec(10, false, 0, 0, 3, 3, 0);
  EXPECT_THAT(RankSequence(spec), StatusIs(absl::StatusCode::kInvalidArgument, "rank 3 must be < world_size 3"));
  spec.world_size = 0;
  spec.rank = 0;
  EXPECT_THAT(RankSequence(spec), StatusIs(absl::StatusCode::kInvalidArgument, "world_size"));
}

TEST(SplitMix64Test, BelowIsInRangeAndCoversIt) {
  SplitMix64 rng(1);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = rng.Below(7);
    ASSERT_LT(v, 7u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
  // Fixed reference values: the order must never change between versions.
  SplitMix64 ref(0);
  EXPECT_EQ(ref.Next(), 0xE220A8397B1DCDAFull);
}

}  // namespace
}  // namespace imagefeed

namespace imagefeed {
namespace {

TEST(SplitTest, TrainingAndValidationAreDisjointCompleteAndStable) {
  for (int64_t n : {1, 10, 101, 1000}) {
    for (double f : {0.1, 0.2, 0.5, 0.99}) {
      ASSERT_OK_AND_ASSIGN(auto train, SplitIds(n, f, SplitSubset::kTraining, 42));
      ASSERT_OK_AND_ASSIGN(auto val, SplitIds(n, f, SplitSubset::kValidation, 42));
      EXPECT_EQ(static_cast<int64_t>(val.size()), static_cast<int64_t>(f * n));
      std::vector<int64_t> all = train;
      all.insert(all.end(), val.begin(), val.end());
      std::sort(all.begin(), all.end());
      std::vector<int64_t> expected(n);
      std::iota(expected.begin(), expected.end(), 0);
      EXPECT_EQ(all, expected) << n << " " << f;
      EXPECT_TRUE(std::is_sorted(val.begin(), val.end()));
      ASSERT_OK_AND_ASSIGN(auto again, SplitIds(n, f, SplitSubset::kValidation, 42));
      EXPECT_EQ(val, again);
    }
  }
  // Another seed picks another validation set; it is not just the tail of the ids.
  ASSERT_OK_AND_ASSIGN(auto a, SplitIds(1000, 0.2, SplitSubset::kValidation, 1));
  ASSERT_OK_AND_ASSIGN(auto b, SplitIds(1000, 0.2, SplitSubset::kValidation, 2));
  EXPECT_NE(a, b);
  EXPECT_LT(a.front(), 800);
}

TEST(SplitTest, RanksPartitionASubset) {
  ASSERT_OK_AND_ASSIGN(auto val, SplitIds(500, 0.3, SplitSubset::kValidation, 9));
  std::vector<int64_t> got;
  for (uint32_t r = 0; r < 4; ++r) {
    OrderSpec spec = Spec(500, true, 1, 2, r, 4, 0);
    spec.validation_split = 0.3;
    spec.subset = SplitSubset::kValidation;
    spec.split_seed = 9;
    ASSERT_OK_AND_ASSIGN(auto seq, RankSequence(spec));
    got.insert(got.end(), seq.begin(), seq.end());
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, val);
}

TEST(SplitTest, InvalidSplits) {
  EXPECT_THAT(SplitIds(10, 1.5, SplitSubset::kTraining, 0), StatusIs(absl::StatusCode::kInvalidArgument, "(0, 1)"));
  EXPECT_THAT(SplitIds(10, 0.0, SplitSubset::kValidation, 0), StatusIs(absl::StatusCode::kInvalidArgument, "(0, 1)"));
  EXPECT_THAT(SplitIds(10, 0.2, SplitSubset::kAll, 0), StatusIs(absl::StatusCode::kInvalidArgument, "subset"));
}

}  // namespace
}  // namespace imagefeed

// Golden values: the determinism contract as shipped. Users' checkpoints store
// (seed, epoch, rank, world_size, start), so a change to any of these orders
// silently replays or skips samples after an upgrade; change them only with a
// format version bump and a release note. The literals were produced by running
// the shipped code once (commit b3f5fee) and reproduced independently by a
// Python reimplementation of SplitMix64, Lemire's bounded draw, MixSeed and
// Fisher-Yates written from common/random.h's comments: tests/golden_reference.py.
namespace imagefeed {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(SampleOrderGoldenTest, UnshuffledOrderIsTheIdentity) {
  for (int64_t n : {0, 1, 10, 1000}) {
    for (uint64_t seed : {0ull, 42ull}) EXPECT_EQ(EpochOrder(n, false, seed, 3), Iota(n)) << n;
  }
}

TEST(SampleOrderGoldenTest, ShuffledEpochOrders) {
  EXPECT_THAT(EpochOrder(10, true, 0, 0), ElementsAre(3, 7, 1, 0, 4, 2, 9, 6, 5, 8));
  EXPECT_THAT(EpochOrder(10, true, 42, 3), ElementsAre(8, 4, 9, 0, 1, 2, 6, 7, 3, 5));

  const std::vector<int64_t> order = EpochOrder(1000, true, 7, 1);
  ASSERT_EQ(order.size(), 1000u);
  EXPECT_THAT(std::vector<int64_t>(order.begin(), order.begin() + 16),
              ElementsAre(15, 460, 466, 305, 608, 558, 728, 301, 835, 722, 497, 632, 903, 93, 915, 655));
  // A position-weighted checksum pins the whole permutation: any swap of two
  // different ids at different positions changes it.
  int64_t checksum = 0;
  for (size_t pos = 0; pos < order.size(); ++pos) checksum += order[pos] * static_cast<int64_t>(pos);
  EXPECT_EQ(checksum, 249471859);
  // Independent of the golden values: it is a permutation.
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, Iota(1000));
}

TEST(SampleOrderGoldenTest, RankSplitOfElevenSamplesOverThreeRanks) {
  // EpochOrder(11, true, 9, 2), then rank r takes positions r, r+3, r+6, ...
  const std::vector<int64_t> order = EpochOrder(11, true, 9, 2);
  EXPECT_THAT(order, ElementsAre(4, 1, 7, 6, 8, 0, 2, 9, 3, 5, 10));
  const std::vector<std::vector<int64_t>> golden = {{4, 6, 2, 5}, {1, 8, 9, 10}, {7, 0, 3}};
  for (uint32_t r = 0; r < 3; ++r) {
    ASSERT_OK_AND_ASSIGN(auto seq, RankSequence(Spec(11, true, 9, 2, r, 3, 0)));
    EXPECT_THAT(seq, ElementsAreArray(golden[r])) << "rank " << r;
    // Independent check: the interleave r, r+W, ... of the epoch order.
    std::vector<int64_t> interleave;
    for (size_t pos = r; pos < order.size(); pos += 3) interleave.push_back(order[pos]);
    EXPECT_EQ(seq, interleave) << "rank " << r;
    // start=1 resumes after the first sample.
    ASSERT_OK_AND_ASSIGN(auto resumed, RankSequence(Spec(11, true, 9, 2, r, 3, 1)));
    EXPECT_THAT(resumed, ElementsAreArray(golden[r].begin() + 1, golden[r].end())) << "rank " << r;
  }
  // Unshuffled, the split is the plain interleave of the ids.
  ASSERT_OK_AND_ASSIGN(auto plain, RankSequence(Spec(11, false, 9, 2, 2, 3, 0)));
  EXPECT_THAT(plain, ElementsAre(2, 5, 8));
}

TEST(SampleOrderGoldenTest, ValidationSplitOfTwentySamples) {
  ASSERT_OK_AND_ASSIGN(auto train, SplitIds(20, 0.25, SplitSubset::kTraining, 5));
  ASSERT_OK_AND_ASSIGN(auto val, SplitIds(20, 0.25, SplitSubset::kValidation, 5));
  EXPECT_THAT(train, ElementsAre(0, 2, 3, 6, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19));
  EXPECT_THAT(val, ElementsAre(1, 4, 5, 7, 16));
  // Independent checks: floor(0.25 * 20) = 5 validation ids; the union is everything.
  std::vector<int64_t> all = train;
  all.insert(all.end(), val.begin(), val.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, Iota(20));
}


// Hand-computed: 10 samples, 4 ranks. torch DistributedSampler (the
// independent reference in tests/scale_out_test.py) gives the same.
TEST(SampleOrderTest, EvenShardsPadWrapsAroundAndDropCutsTheTail) {
  OrderSpec spec = Spec(10, false, 0, 0, 0, 4, 0);
  spec.even_shards = EvenShards::kPad;
  std::vector<std::vector<int64_t>> got;
  for (uint32_t r = 0; r < 4; ++r) {
    spec.rank = r;
    ASSERT_OK_AND_ASSIGN(auto seq, RankSequence(spec));
    got.push_back(seq);
  }
  EXPECT_THAT(got[0], ::testing::ElementsAre(0, 4, 8));
  EXPECT_THAT(got[1], ::testing::ElementsAre(1, 5, 9));
  EXPECT_THAT(got[2], ::testing::ElementsAre(2, 6, 0));  // global 10 wraps to order[0]
  EXPECT_THAT(got[3], ::testing::ElementsAre(3, 7, 1));
  spec.rank = 2;
  RankExtent e = RankExtentOf(spec, 10);
  EXPECT_EQ(e.positions, 3u);
  EXPECT_EQ(e.first_padded, 2u);
  spec.even_shards = EvenShards::kDrop;
  ASSERT_OK_AND_ASSIGN(auto dropped, RankSequence(spec));
  EXPECT_THAT(dropped, ::testing::ElementsAre(2, 6));
  spec.rank = 0;
  ASSERT_OK_AND_ASSIGN(dropped, RankSequence(spec));
  EXPECT_THAT(dropped, ::testing::ElementsAre(0, 4));
  // Fewer samples than ranks: padding wraps more than once.
  spec = Spec(2, false, 0, 0, 4, 5, 0);
  spec.even_shards = EvenShards::kPad;
  ASSERT_OK_AND_ASSIGN(auto tiny, RankSequence(spec));
  EXPECT_THAT(tiny, ::testing::ElementsAre(0));  // global 4 -> (4 - 2) % 2
}

TEST(SampleOrderTest, GlobalStartSplitsTheRestOverTheNewRanks) {
  // 4 ranks delivered 2 positions each of a shuffled 23-sample epoch: the
  // first 8 global positions are done; 3 ranks split the remaining 15.
  OrderSpec spec = Spec(23, true, 5, 1, 0, 3, 0);
  spec.global_start = 8;
  const std::vector<int64_t> order = EpochOrder(23, true, 5, 1);
  std::multiset<int64_t> seen(order.begin(), order.begin() + 8);
  for (uint32_t r = 0; r < 3; ++r) {
    spec.rank = r;
    ASSERT_OK_AND_ASSIGN(auto seq, RankSequence(spec));
    EXPECT_EQ(seq.size(), 5u);
    EXPECT_EQ(seq[0], order[8 + r]);
    seen.insert(seq.begin(), seq.end());
  }
  std::multiset<int64_t> all(order.begin(), order.end());
  EXPECT_EQ(seen, all);  // every sample exactly once across the restart
}

TEST(SampleOrderTest, SliceBatchesFansInEveryNthBatch) {
  std::vector<int64_t> rank_ids(11);
  std::iota(rank_ids.begin(), rank_ids.end(), 100);
  std::vector<int64_t> ids;
  auto slices = SliceBatches(rank_ids, 5, 3, false, 2, 1, &ids);
  ASSERT_EQ(slices.size(), 2u);  // batches 1 and 3 of 0..3
  EXPECT_EQ(slices[0].position, 8u);
  EXPECT_EQ(slices[1].position, 14u);
  EXPECT_EQ(slices[1].count, 2u);
  EXPECT_THAT(ids, ::testing::ElementsAre(103, 104, 105, 109, 110));
  slices = SliceBatches(rank_ids, 5, 3, true, 2, 1, &ids);  // drop_last drops batch 3
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_THAT(ids, ::testing::ElementsAre(103, 104, 105));
}

}  // namespace
}  // namespace imagefeed
