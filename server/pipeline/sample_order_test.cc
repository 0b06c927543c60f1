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
