// End-to-end: fitted statistics, normalization modes, splits and augmentation
// through a real gRPC server.
#include <cmath>
#include <set>

#include "absl/time/clock.h"
#include "client/imagefeed_client.h"
#include "common/image_encoders.h"
#include "common/test_support.h"
#include "server/stats/channel_stats.h"
#include "tests/test_server.h"

namespace imagefeed {
namespace {

using absl::StatusCode;

class StatsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/data";
    WriteTestDataset(root_, 3, 7, 16, 12);
    index_ = *DatasetIndex::Build("toy", root_);
    stats_.cache_dir = dir_.path() + "/cache";
  }
  void Start(ColorMode mode = ColorMode::kRgb) {
    server_.reset();
    server_ = std::make_unique<TestServer>(std::vector<DatasetConfig>{{index_, mode}}, ServerLimits{}, stats_);
    client_ = std::make_unique<v1::ImageFeed::Stub>(grpc::CreateChannel(server_->address(),
                                                                        grpc::InsecureChannelCredentials()));
    lib_ = std::make_unique<ImageFeedClient>(server_->address());
  }
  v1::DatasetStats WaitStats() {
    for (int i = 0; i < 600; ++i) {
      grpc::ClientContext ctx;
      v1::GetStatsRequest req;
      req.set_dataset("toy");
      v1::DatasetStats s;
      EXPECT_TRUE(client_->GetStats(&ctx, req, &s).ok());
      if (s.state() != v1::DatasetStats::STATE_FITTING) return s;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "fitting did not finish";
    return {};
  }
  std::vector<v1::Batch> ReadAll(const v1::StreamBatchesRequest& r) {
    std::vector<v1::Batch> out;
    auto reader = lib_->StreamBatches(r);
    v1::Batch b;
    while (reader->Next(&b)) out.push_back(b);
    EXPECT_OK(reader->Finish());
    return out;
  }
  v1::StreamBatchesRequest Request() {
    v1::StreamBatchesRequest r;
    r.set_dataset("toy");
    r.set_batch_size(5);
    r.set_layout(v1::LAYOUT_NHWC);
    return r;
  }
  // The dataset's images as the test wrote them, by sample id.
  Image Source(int64_t id) {
    Image img = MakeGradientImage(16, 12, 3);
    img.data[0] = static_cast<uint8_t>(id);
    return img;
  }

  ScopedTempDir dir_;
  std::string root_;
  std::shared_ptr<const DatasetIndex> index_;
  StatsConfig stats_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::ImageFeed::Stub> client_;
  std::unique_ptr<ImageFeedClient> lib_;
};

TEST_F(StatsE2ETest, FittedStatisticsMatchAReferenceAndAreCached) {
  Start();
  v1::DatasetStats s = WaitStats();
  ASSERT_EQ(s.state(), v1::DatasetStats::STATE_READY) << s.error();
  EXPECT_FALSE(s.from_cache());
  ChannelStats ref(3);
  for (int64_t id = 0; id < 21; ++id) ref.AddImage(Source(id), ColorMode::kRgb);
  EXPECT_EQ(s.count(), 21 * 16 * 12);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(s.mean(c), ref.mean(c), 1e-12);
    EXPECT_NEAR(s.std(c), ref.stddev(c), 1e-12);
  }
  Start();  // restart with the same cache directory
  v1::DatasetStats again = WaitStats();
  EXPECT_TRUE(again.from_cache());
  EXPECT_EQ(again.mean(2), s.mean(2));
}

TEST_F(StatsE2ETest, StandardizeAndMinMaxUseTheFittedStatistics) {
  Start();
  v1::StreamBatchesRequest r = Request();
  r.set_normalize(v1::NORMALIZATION_STANDARDIZE);
  std::vector<v1::Batch> standardized = ReadAll(r);  // may start while fitting: it waits
  v1::DatasetStats s = WaitStats();
  ASSERT_EQ(standardized.size(), 5u);
  for (const auto& b : standardized) {
    const float* px = reinterpret_cast<const float*>(b.data().data());
    for (int i = 0; i < b.sample_ids_size(); ++i) {
      Image src = Source(b.sample_ids(i));
      for (size_t k = 0; k < src.data.size(); k += 7) {
        double want = (src.data[k] / 255.0 - s.mean(k % 3)) / s.std(k % 3);
        ASSERT_NEAR(px[i * src.data.size() + k], want, 1e-4);
      }
    }
  }
  r.set_normalize(v1::NORMALIZATION_MINMAX);
  for (const auto& b : ReadAll(r)) {
    const float* px = reinterpret_cast<const float*>(b.data().data());
    for (size_t k = 0; k < b.data().size() / 4; ++k) {
      ASSERT_GE(px[k], -1e-5);
      ASSERT_LE(px[k], 1 + 1e-5);
    }
  }
}

TEST_F(StatsE2ETest, GrayscaleDatasetsStreamOneChannelOfLuma) {
  Start(ColorMode::kGrayscale);
  v1::DatasetStats s = WaitStats();
  ASSERT_EQ(s.mean_size(), 1);
  EXPECT_EQ(s.color_mode(), "grayscale");
  v1::StreamBatchesRequest r = Request();
  r.set_normalize(v1::NORMALIZATION_NONE);
  std::vector<v1::Batch> batches = ReadAll(r);
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches[0].shape(3), 1);
  Image src = Source(batches[0].sample_ids(0));
  const float* px = reinterpret_cast<const float*>(batches[0].data().data());
  EXPECT_NEAR(px[5], 0.299 * src.data[15] + 0.587 * src.data[16] + 0.114 * src.data[17], 1e-3);
}

TEST_F(StatsE2ETest, ValidationSplitIsDisjointAndComplete) {
  Start();
  std::set<int64_t> train, val;
  for (auto [subset, out] : {std::pair{v1::SUBSET_TRAINING, &train}, std::pair{v1::SUBSET_VALIDATION, &val}}) {
    v1::StreamBatchesRequest r = Request();
    r.set_validation_split(0.25f);
    r.set_subset(subset);
    r.set_split_seed(4);
    r.set_shuffle(true);
    for (const auto& b : ReadAll(r)) out->insert(b.sample_ids().begin(), b.sample_ids().end());
  }
  EXPECT_EQ(val.size(), 5u);  // floor(0.25 * 21)
  EXPECT_EQ(train.size(), 16u);
  for (int64_t id : val) EXPECT_EQ(train.count(id), 0u);
}

TEST_F(StatsE2ETest, AugmentationIsDeterministicPerSeedEpochAndSample) {
  Start();
  v1::StreamBatchesRequest plain = Request();
  plain.set_normalize(v1::NORMALIZATION_NONE);
  v1::StreamBatchesRequest flip = plain;
  flip.set_random_flip(true);
  flip.set_seed(3);
  std::vector<v1::Batch> a = ReadAll(plain), b = ReadAll(flip), c = ReadAll(flip);
  ASSERT_EQ(a.size(), b.size());
  int flipped = 0, same = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].data(), c[i].data());  // same request, same bytes
    const float* pa = reinterpret_cast<const float*>(a[i].data().data());
    const float* pb = reinterpret_cast<const float*>(b[i].data().data());
    for (int s = 0; s < a[i].sample_ids_size(); ++s) {
      const float* xa = pa + s * 12 * 16 * 3;
      const float* xb = pb + s * 12 * 16 * 3;
      bool equal = std::equal(xa, xa + 12 * 16 * 3, xb);
      bool mirrored = true;
      for (int y = 0; y < 12 && mirrored; ++y) {
        for (int x = 0; x < 16 && mirrored; ++x) {
          for (int k = 0; k < 3; ++k) mirrored &= xa[(y * 16 + x) * 3 + k] == xb[(y * 16 + 15 - x) * 3 + k];
        }
      }
      ASSERT_TRUE(equal || mirrored) << "sample " << a[i].sample_ids(s);
      flipped += mirrored && !equal;
      same += equal;
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_GT(same, 0);
  // Random resized crops differ between epochs but repeat within one.
  v1::StreamBatchesRequest crop = Request();
  crop.set_random_resized_crop(true);
  crop.set_height(8);
  crop.set_width(8);
  std::vector<v1::Batch> e0 = ReadAll(crop), e0b = ReadAll(crop);
  crop.set_epoch(1);
  crop.set_shuffle(false);
  std::vector<v1::Batch> e1 = ReadAll(crop);
  EXPECT_EQ(e0[0].data(), e0b[0].data());
  EXPECT_NE(e0[0].data(), e1[0].data());
}

TEST_F(StatsE2ETest, UnknownDatasetStatsIsNotFound) {
  Start();
  grpc::ClientContext ctx;
  v1::GetStatsRequest req;
  req.set_dataset("nope");
  v1::DatasetStats s;
  EXPECT_EQ(client_->GetStats(&ctx, req, &s).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace imagefeed
