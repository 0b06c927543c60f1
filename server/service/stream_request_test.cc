#include "server/service/stream_request.h"

#include <cmath>

#include "common/test_support.h"

namespace imagefeed {
namespace {

using absl::StatusCode;

class StreamRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 10; ++i) WriteTestFile(dir_.path() + "/c" + std::to_string(i % 2) + "/" + std::to_string(i) + ".jpg", "x");
    auto index = DatasetIndex::Build("d", dir_.path());
    ASSERT_OK(index);
    dataset_ = *index;
    request_.set_dataset("d");
    request_.set_batch_size(4);
    request_.set_height(32);
    request_.set_width(48);
  }
  absl::StatusOr<BatchPlan> Plan() { return PlanStream(request_, dataset_, color_mode_, limits_); }

  ScopedTempDir dir_;
  std::shared_ptr<const DatasetIndex> dataset_;
  v1::StreamBatchesRequest request_;
  ServerLimits limits_;
  ColorMode color_mode_ = ColorMode::kRgb;
};

TEST_F(StreamRequestTest, DefaultsAreRescaleNchwFloatSkip) {
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_EQ(plan.transform.normalize.mode, NormalizeMode::kRescale);
  EXPECT_FLOAT_EQ(plan.transform.normalize.scale, 1.0f / 255.0f);
  EXPECT_FLOAT_EQ(plan.transform.normalize.offset, 0.0f);
  EXPECT_EQ(plan.transform.layout, TensorLayout::kNCHW);
  EXPECT_EQ(plan.transform.dtype, OutputDType::kFloat32);
  EXPECT_EQ(plan.on_error, OnError::kSkip);
  EXPECT_TRUE(plan.transform.decode.apply_exif_orientation);
  EXPECT_EQ(plan.transform.out_height, 32);
  EXPECT_EQ(plan.transform.out_width, 48);
  EXPECT_EQ(plan.sequence.size(), 10u);
  EXPECT_GE(plan.max_batches_in_flight, 2);
}

TEST_F(StreamRequestTest, SkipBudgetDefaultsToOnePercentAndIsValidated) {
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_DOUBLE_EQ(plan.max_skip_fraction, 0.01);
  request_.set_max_skip_fraction(0.25f);
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  EXPECT_DOUBLE_EQ(plan.max_skip_fraction, 0.25);
  request_.set_max_skip_fraction(1.5f);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "max_skip_fraction must be in [0, 1] (got 1.5)"));
  request_.set_max_skip_fraction(std::nanf(""));
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "max_skip_fraction"));
}

TEST_F(StreamRequestTest, RankAndStartSelectTheSequence) {
  request_.set_world_size(3);
  request_.set_rank(2);
  request_.set_start(1);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_THAT(plan.sequence, ::testing::ElementsAre(5, 8));
  EXPECT_EQ(plan.first_position, 1u);
}

TEST_F(StreamRequestTest, InvalidFieldsAreNamed) {
  request_.set_batch_size(0);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "batch_size must be >= 1"));
  request_.set_batch_size(4);
  request_.set_height(0);
  request_.set_width(5);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "size 0x5"));
  request_.set_height(5);
  request_.set_rank(3);
  request_.set_world_size(3);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "rank 3 must be < world_size 3"));
  request_.set_rank(0);
  request_.set_normalize(v1::NORMALIZATION_NONE);
  request_.set_scale(2.0f);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "scale and offset apply only"));
  request_.clear_scale();
  request_.set_layout(static_cast<v1::Layout>(99));
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "layout: unknown value 99"));
}

TEST_F(StreamRequestTest, LimitsAreNamed) {
  request_.set_batch_size(64);
  request_.set_height(224);
  request_.set_width(224);
  limits_.max_batch_bytes = 10 << 20;
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "is 38535168 bytes, above the server's cap max_batch_bytes=10485760"));
  request_.set_dtype(v1::DTYPE_UINT8);  // a quarter of the bytes fits
  EXPECT_OK(Plan());
  limits_.max_batch_size = 16;
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "max_batch_size=16"));
  limits_.max_batch_size = 4096;
  request_.set_height(10000);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "max_side=8192"));
}

TEST_F(StreamRequestTest, NormalizationModesAndStatsNeeds) {
  const std::pair<v1::Normalization, NormalizeMode> modes[] = {
      {v1::NORMALIZATION_STANDARDIZE, NormalizeMode::kStandardize},
      {v1::NORMALIZATION_MINMAX, NormalizeMode::kMinMax},
      {v1::NORMALIZATION_L2, NormalizeMode::kL2},
      {v1::NORMALIZATION_PER_IMAGE_STANDARDIZE, NormalizeMode::kPerImageStandardize},
      {v1::NORMALIZATION_PER_IMAGE_MINMAX, NormalizeMode::kPerImageMinMax}};
  for (auto [proto, mode] : modes) {
    request_.set_normalize(proto);
    ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
    EXPECT_EQ(plan.transform.normalize.mode, mode);
    EXPECT_EQ(NeedsDatasetStats(request_), mode == NormalizeMode::kStandardize || mode == NormalizeMode::kMinMax);
  }
}

TEST_F(StreamRequestTest, ExifAndUint8Options) {
  request_.set_ignore_exif_orientation(true);
  request_.set_on_error(v1::ON_ERROR_FAIL);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_FALSE(plan.transform.decode.apply_exif_orientation);
  EXPECT_EQ(plan.on_error, OnError::kFail);
  request_.set_dtype(v1::DTYPE_UINT8);
  request_.set_normalize(v1::NORMALIZATION_STANDARDIZE);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "normalize must be unset or NONE"));
  request_.set_normalize(v1::NORMALIZATION_NONE);
  EXPECT_OK(Plan());
}

TEST_F(StreamRequestTest, GrayscaleDatasetsHaveOneChannel) {
  color_mode_ = ColorMode::kGrayscale;
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_EQ(plan.transform.out_channels, 1);
}

TEST_F(StreamRequestTest, AugmentationAndResizeModes) {
  request_.set_random_flip(true);
  request_.set_random_resized_crop(true);
  request_.set_crop_scale_min(0.5f);
  request_.set_resize_mode(v1::RESIZE_MODE_SHORTER_SIDE);
  request_.set_seed(77);
  request_.set_epoch(3);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_TRUE(plan.transform.augment.random_flip);
  EXPECT_TRUE(plan.transform.augment.random_resized_crop);
  EXPECT_DOUBLE_EQ(plan.transform.augment.scale_min, 0.5);
  EXPECT_DOUBLE_EQ(plan.transform.augment.scale_max, 1.0);
  EXPECT_EQ(plan.transform.augment.resize_mode, ResizeMode::kShorterSide);
  EXPECT_EQ(plan.transform.seed, 77u);
  EXPECT_EQ(plan.transform.epoch, 3u);
  request_.set_crop_scale_max(0.2f);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "crop scale range [0.5, 0.2]"));
  request_.clear_crop_scale_max();
  request_.set_height(0);
  request_.set_width(0);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "needs a size"));
  request_.set_random_resized_crop(false);
  request_.clear_crop_scale_min();
  request_.set_resize_mode(v1::RESIZE_MODE_STRETCH);
  EXPECT_OK(Plan());  // a flip alone works at native size
}

TEST_F(StreamRequestTest, ResizeSizeNeedsShorterSideAndCoversTheOutput) {
  request_.set_resize_size(256);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "resize_size applies only with resize_mode=SHORTER_SIDE"));
  request_.set_resize_mode(v1::RESIZE_MODE_SHORTER_SIDE);
  request_.set_height(224);
  request_.set_width(200);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_EQ(plan.transform.augment.resize_size, 256);
  request_.set_width(300);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "resize_size=256 must be >= height (224) and width (300)"));
  request_.set_width(200);
  request_.set_resize_size(9000);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "max_side=8192"));
  request_.set_resize_size(256);
  request_.set_random_resized_crop(true);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "without random_resized_crop"));
}

TEST_F(StreamRequestTest, ValidationSplit) {
  request_.set_validation_split(0.3f);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "subset"));
  request_.set_subset(v1::SUBSET_VALIDATION);
  ASSERT_OK_AND_ASSIGN(BatchPlan val, Plan());
  request_.set_subset(v1::SUBSET_TRAINING);
  ASSERT_OK_AND_ASSIGN(BatchPlan train, Plan());
  EXPECT_EQ(val.sequence.size(), 3u);
  EXPECT_EQ(train.sequence.size(), 7u);
  request_.set_validation_split(1.0f);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "validation_split must be in (0, 1)"));
}

}  // namespace
}  // namespace imagefeed
