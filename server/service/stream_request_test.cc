#include "server/service/stream_request.h"

#include <cmath>

#include "common/test_support.h"
#include "server/service/batch_header.h"

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

TEST_F(StreamRequestTest, JpegYccResizeFollowsTheServerFlag) {
  ASSERT_OK_AND_ASSIGN(BatchPlan on, Plan());
  EXPECT_TRUE(on.transform.decode.jpeg_ycc_resize);
  limits_.jpeg_ycc_resize = false;  // --jpeg_ycc_resize=false
  ASSERT_OK_AND_ASSIGN(BatchPlan off, Plan());
  EXPECT_FALSE(off.transform.decode.jpeg_ycc_resize);
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
  request_.set_normalize(v1::NORMALIZATION_NONE);
  EXPECT_OK(Plan());
}

TEST_F(StreamRequestTest, Uint8TakesOnlyPerChannelNormalizations) {
  request_.set_dtype(v1::DTYPE_UINT8);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_EQ(plan.transform.normalize.mode, NormalizeMode::kNone);  // unset: raw values, not 1/255
  for (v1::Normalization n : {v1::NORMALIZATION_RESCALE, v1::NORMALIZATION_STANDARDIZE, v1::NORMALIZATION_MINMAX}) {
    request_.set_normalize(n);
    EXPECT_OK(Plan()) << n;
  }
  for (v1::Normalization n : {v1::NORMALIZATION_L2, v1::NORMALIZATION_PER_IMAGE_STANDARDIZE,
                              v1::NORMALIZATION_PER_IMAGE_MINMAX}) {
    request_.set_normalize(n);
    EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "depends on each image: use dtype FLOAT32, FLOAT16"))
        << n;
  }
  request_.clear_normalize();
  request_.set_scale(2.0f);  // unset with a scale is RESCALE, as for float32
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  EXPECT_EQ(plan.transform.normalize.mode, NormalizeMode::kRescale);
}

TEST_F(StreamRequestTest, HalfDTypesTakeEveryNormalizationAndHalveTheBytes) {
  for (auto [proto, dtype] : {std::pair{v1::DTYPE_FLOAT16, OutputDType::kFloat16},
                              std::pair{v1::DTYPE_BFLOAT16, OutputDType::kBFloat16}}) {
    request_.set_dtype(proto);
    request_.set_normalize(v1::NORMALIZATION_PER_IMAGE_STANDARDIZE);
    ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
    EXPECT_EQ(plan.transform.dtype, dtype);
    EXPECT_EQ(plan.transform.SampleBytes(32, 48), 32u * 48 * 3 * 2);
  }
  request_.set_batch_size(64);
  request_.set_height(224);
  request_.set_width(224);
  limits_.max_batch_bytes = 10 << 20;  // float32's 38535168 bytes do not fit, bfloat16's do not either
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "224 x 224 bfloat16 is 19267584 bytes"));
  request_.set_dtype(static_cast<v1::DType>(5));
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "dtype: unknown value 5"));
}

// input_scale/input_offset against values computed by hand from the statistics.
TEST_F(StreamRequestTest, Uint8BatchesCarryTheChannelAffine) {
  request_.set_dtype(v1::DTYPE_UINT8);
  request_.set_normalize(v1::NORMALIZATION_STANDARDIZE);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  plan.transform.normalize.mean = {0.5, 0.25, 0.0};
  plan.transform.normalize.std = {0.25, 0.5, 0.0};  // a zero std gives 0 (divide-no-nan)
  v1::Batch header;
  SetInputNormalization(plan.transform, &header);
  EXPECT_THAT(header.input_scale(), ::testing::ElementsAre(4.0f / 255.0f, 2.0f / 255.0f, 0.0f));
  EXPECT_THAT(header.input_offset(), ::testing::ElementsAre(-2.0f, -0.5f, 0.0f));

  request_.set_normalize(v1::NORMALIZATION_RESCALE);
  request_.set_scale(0.5f);
  request_.set_offset(-1.0f);
  color_mode_ = ColorMode::kGrayscale;
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  header.Clear();
  SetInputNormalization(plan.transform, &header);
  EXPECT_THAT(header.input_scale(), ::testing::ElementsAre(0.5f));
  EXPECT_THAT(header.input_offset(), ::testing::ElementsAre(-1.0f));

  for (v1::DType dtype : {v1::DTYPE_FLOAT32, v1::DTYPE_FLOAT16, v1::DTYPE_BFLOAT16}) {  // already the model input
    request_.set_dtype(dtype);
    ASSERT_OK_AND_ASSIGN(plan, Plan());
    header.Clear();
    SetInputNormalization(plan.transform, &header);
    EXPECT_EQ(header.input_scale_size(), 0);
  }
  request_.set_dtype(v1::DTYPE_UINT8);
  request_.set_normalize(v1::NORMALIZATION_NONE);
  request_.clear_scale();
  request_.clear_offset();
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  header.Clear();
  SetInputNormalization(plan.transform, &header);
  EXPECT_EQ(header.input_scale_size(), 0);
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


TEST_F(StreamRequestTest, FanInSelectsEveryNthBatchAndIsValidated) {
  request_.set_fan_in_count(2);
  request_.set_fan_in_index(1);
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  ASSERT_EQ(plan.batches.size(), 1u);  // batches 0..2 of 10 samples by 4: only batch 1
  EXPECT_EQ(plan.batches[0].position, 4u);
  EXPECT_THAT(plan.sequence, ::testing::ElementsAre(4, 5, 6, 7));
  EXPECT_EQ(plan.rank_positions, 10u);
  request_.set_fan_in_index(2);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "fan_in_index 2 must be < fan_in_count 2"));
}

TEST_F(StreamRequestTest, ResumeContinuesTheSameRanksOrSplitsTheRestOverNewOnes) {
  request_.set_world_size(2);
  request_.set_rank(1);
  ASSERT_OK_AND_ASSIGN(BatchPlan first, Plan());
  v1::Cursor* c = request_.mutable_resume();
  c->set_world_size(2);
  c->set_rank(1);
  c->set_position(2);  // rank 1 delivered ids 1, 3
  c->set_order_fingerprint(first.identity->order_fingerprint);
  ASSERT_OK_AND_ASSIGN(BatchPlan same, Plan());
  EXPECT_THAT(same.sequence, ::testing::ElementsAre(5, 7, 9));
  EXPECT_EQ(same.first_position, 2u);
  // Elastic: 2 ranks x 2 positions = global 4 done; rank 1 of 3 takes 5, 8.
  request_.set_world_size(3);
  ASSERT_OK_AND_ASSIGN(BatchPlan elastic, Plan());
  EXPECT_THAT(elastic.sequence, ::testing::ElementsAre(5, 8));
  EXPECT_EQ(elastic.identity->global_start, 4u);
  EXPECT_EQ(elastic.first_position, 0u);

  c->set_order_fingerprint("0123456789abcdef");
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kFailedPrecondition, "the cursor belongs to another dataset or order"));
  c->set_order_fingerprint(first.identity->order_fingerprint);
  request_.set_start(1);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "start=1 and resume are exclusive"));
  request_.set_start(0);
  request_.set_epoch(3);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "the cursor is for epoch 0"));
  request_.set_epoch(0);
  request_.set_shuffle(true);  // another order
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kFailedPrecondition, "resume"));
}

TEST_F(StreamRequestTest, FillSkippedFollowsDropLastAndEvenShards) {
  ASSERT_OK_AND_ASSIGN(BatchPlan plan, Plan());
  EXPECT_FALSE(plan.fill_skipped);
  request_.set_drop_last(true);
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  EXPECT_TRUE(plan.fill_skipped);
  ASSERT_NE(plan.replacement_pool, nullptr);
  EXPECT_EQ(plan.replacement_pool->size(), 10u);
  request_.set_drop_last(false);
  request_.set_even_shards(v1::EVEN_SHARDS_PAD);
  request_.set_world_size(4);
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  EXPECT_TRUE(plan.fill_skipped);
  EXPECT_EQ(plan.rank_positions, 3u);
  EXPECT_EQ(plan.first_padded, 3u);  // rank 0 of 4 over 10 has no padding
  request_.set_rank(3);
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  EXPECT_EQ(plan.first_padded, 2u);
  request_.set_on_error(v1::ON_ERROR_FAIL);
  ASSERT_OK_AND_ASSIGN(plan, Plan());
  EXPECT_FALSE(plan.fill_skipped);
  request_.set_fill_skipped(true);
  EXPECT_THAT(Plan(), StatusIs(StatusCode::kInvalidArgument, "fill_skipped needs a size"));
}

TEST_F(StreamRequestTest, OrderFingerprintIgnoresTheTransform) {
  const std::string a = OrderFingerprint(request_, *dataset_);
  request_.set_height(64);
  request_.set_batch_size(7);
  EXPECT_EQ(OrderFingerprint(request_, *dataset_), a);
  request_.set_seed(9);  // no effect without shuffle
  EXPECT_EQ(OrderFingerprint(request_, *dataset_), a);
  request_.set_shuffle(true);
  EXPECT_NE(OrderFingerprint(request_, *dataset_), a);
}

}  // namespace
}  // namespace imagefeed
