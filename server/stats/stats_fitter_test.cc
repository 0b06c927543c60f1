#include "server/stats/stats_fitter.h"

#include <utime.h>

#include "absl/synchronization/notification.h"
#include "common/image_encoders.h"
#include "common/test_support.h"

namespace imagefeed {
namespace {

absl::StatusOr<v1::DatasetStats> Wait(StatsFitter& f) {
  absl::Notification done;
  absl::StatusOr<v1::DatasetStats> out;
  f.WhenReady([&](const absl::StatusOr<v1::DatasetStats>& r) {
    out = r;
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  return out;
}

class StatsFitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/data";
    // 70 images (3 chunks): RGB gradients, a gray one and a 16-bit one.
    for (int i = 0; i < 70; ++i) {
      Image img = MakeGradientImage(10 + i % 5, 6, i == 3 ? 1 : 3, i == 5 ? 16 : 8);
      img.data[0] = static_cast<uint8_t>(i);
      reference_.AddImage(img, ColorMode::kRgb);
      WriteTestFile(root_ + "/c" + std::to_string(i % 2) + "/" + std::to_string(100 + i) + ".png", *EncodePng(img));
    }
    options_.cache_dir = dir_.path() + "/cache";
  }
  std::shared_ptr<const DatasetIndex> Index() { return *DatasetIndex::Build("ds", root_); }

  ScopedTempDir dir_;
  std::string root_;
  ChannelStats reference_{3};
  FitOptions options_;
  Scheduler pool_{2};
};

TEST_F(StatsFitterTest, FitsEveryPixelAndCachesTheResult) {
  auto fitter = StatsFitter::Start(Index(), options_, &pool_);
  ASSERT_OK_AND_ASSIGN(v1::DatasetStats stats, Wait(*fitter));
  EXPECT_EQ(stats.state(), v1::DatasetStats::STATE_READY);
  EXPECT_FALSE(stats.from_cache());
  EXPECT_EQ(stats.count(), reference_.count());
  EXPECT_EQ(stats.samples_fitted(), 70);
  EXPECT_EQ(stats.files_failed(), 0);
  ASSERT_EQ(stats.mean_size(), 3);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(stats.mean(c), reference_.mean(c), 1e-9);
    EXPECT_NEAR(stats.std(c), reference_.stddev(c), 1e-9);
    EXPECT_EQ(stats.min(c), reference_.min(c));
    EXPECT_EQ(stats.max(c), reference_.max(c));
  }
  EXPECT_EQ(fitter->Snapshot().SerializeAsString(), stats.SerializeAsString());

  // A restart with the unchanged dataset loads the cache at once: no refit.
  auto again = StatsFitter::Start(Index(), options_, &pool_);
  v1::DatasetStats snap = again->Snapshot();
  EXPECT_EQ(snap.state(), v1::DatasetStats::STATE_READY);
  EXPECT_TRUE(snap.from_cache());
  EXPECT_EQ(snap.mean(1), stats.mean(1));

  // A changed file (new mtime and size) refits.
  Image changed = MakeGradientImage(12, 6, 3);
  WriteTestFile(root_ + "/c0/100.png", *EncodePng(changed));
  auto refit = StatsFitter::Start(Index(), options_, &pool_);
  ASSERT_OK_AND_ASSIGN(v1::DatasetStats after, Wait(*refit));
  EXPECT_FALSE(after.from_cache());
  EXPECT_NE(after.fingerprint(), stats.fingerprint());
  // Other fitting options are another cache entry.
  options_.color_mode = ColorMode::kGrayscale;
  auto gray = StatsFitter::Start(Index(), options_, &pool_);
  ASSERT_OK_AND_ASSIGN(v1::DatasetStats g, Wait(*gray));
  EXPECT_FALSE(g.from_cache());
  EXPECT_EQ(g.mean_size(), 1);
  EXPECT_EQ(g.color_mode(), "grayscale");
}

TEST_F(StatsFitterTest, CorruptFilesAreCountedAndLeftOut) {
  WriteTestFile(root_ + "/c1/zz-bad.png", "garbage");
  auto fitter = StatsFitter::Start(Index(), options_, &pool_);
  ASSERT_OK_AND_ASSIGN(v1::DatasetStats stats, Wait(*fitter));
  EXPECT_EQ(stats.files_failed(), 1);
  EXPECT_EQ(stats.count(), reference_.count());
}

TEST_F(StatsFitterTest, SampleLimitFitsASeededSubset) {
  options_.sample_limit = 10;
  auto fitter = StatsFitter::Start(Index(), options_, &pool_);
  ASSERT_OK_AND_ASSIGN(v1::DatasetStats stats, Wait(*fitter));
  EXPECT_EQ(stats.samples_total(), 10);
  EXPECT_LT(stats.count(), reference_.count());
  FitOptions uncached;
  uncached.sample_limit = 10;
  auto same = StatsFitter::Start(Index(), uncached, &pool_);
  ASSERT_OK_AND_ASSIGN(v1::DatasetStats again, Wait(*same));
  EXPECT_EQ(again.mean(0), stats.mean(0));
}

TEST_F(StatsFitterTest, CancelReleasesWaiters) {
  options_.cache_dir.clear();
  Scheduler one(1);
  absl::Notification gate;
  auto blocker = one.NewQueue(Scheduler::Priority::kForeground);
  blocker->Schedule([&] { gate.WaitForNotification(); });  // fitting cannot start yet
  auto fitter = StatsFitter::Start(Index(), options_, &one);
  EXPECT_EQ(fitter->Snapshot().state(), v1::DatasetStats::STATE_FITTING);
  EXPECT_EQ(fitter->Snapshot().samples_total(), 70);
  fitter->Cancel();
  gate.Notify();
  EXPECT_THAT(Wait(*fitter), StatusIs(absl::StatusCode::kCancelled, "cancelled"));
}

}  // namespace
}  // namespace imagefeed
