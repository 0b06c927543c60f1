#include "client/cli/batch_summary.h"

#include <cstring>
#include <tuple>

#include "common/test_support.h"

namespace imagefeed {
namespace {

v1::Batch MakeBatch(v1::Layout layout, const std::vector<float>& values, std::vector<int64_t> shape) {
  v1::Batch b;
  b.set_layout(layout);
  b.set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t d : shape) b.add_shape(d);
  b.set_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return b;
}

TEST(BatchSummaryTest, PerChannelStatisticsForBothLayouts) {
  // Two samples of 2 pixels, 2 channels. Channel 0 values: 1,3,5,7; channel 1: 10,10,10,10.
  v1::Batch nchw = MakeBatch(v1::LAYOUT_NCHW, {1, 3, 10, 10, 5, 7, 10, 10}, {2, 2, 1, 2});
  v1::Batch nhwc = MakeBatch(v1::LAYOUT_NHWC, {1, 10, 3, 10, 5, 10, 7, 10}, {2, 1, 2, 2});
  for (const v1::Batch& b : {nchw, nhwc}) {
    ASSERT_OK_AND_ASSIGN(ChannelSummary s, SummarizeBatch(b));
    EXPECT_THAT(s.mean, ::testing::ElementsAre(4, 10));
    EXPECT_THAT(s.std, ::testing::ElementsAre(::testing::DoubleNear(std::sqrt(5.0), 1e-9), 0));
    EXPECT_THAT(s.min, ::testing::ElementsAre(1, 10));
    EXPECT_THAT(s.max, ::testing::ElementsAre(7, 10));
  }
}

TEST(BatchSummaryTest, JsonHasTheDocumentedKeys) {
  v1::Batch b = MakeBatch(v1::LAYOUT_NCHW, {0.5f}, {1, 1, 1, 1});
  b.set_epoch(2);
  b.set_position(64);
  b.add_labels(3);
  b.add_sample_ids(17);
  ASSERT_OK_AND_ASSIGN(ChannelSummary s, SummarizeBatch(b));
  EXPECT_EQ(BatchJson(b, s),
            R"({"epoch":2,"position":64,"shape":[1,1,1,1],"dtype":"float32","labels":[3],"sample_ids":[17],)"
            R"("mean":[0.5],"std":[0],"min":[0.5],"max":[0.5],"skipped":[]})");
}

// float16 1, -2, 65504 and bfloat16 1, -2, 65536 (hand-computed bit patterns, little-endian).
TEST(BatchSummaryTest, HalfDTypesAreReadAsTheirValues) {
  for (auto [dtype, bits, max] : {std::tuple{v1::DTYPE_FLOAT16, "\x00\x3c\x00\xc0\xff\x7b", 65504.0},
                                  std::tuple{v1::DTYPE_BFLOAT16, "\x80\x3f\x00\xc0\x80\x47", 65536.0}}) {
    v1::Batch b;
    b.set_dtype(dtype);
    for (int64_t d : {1, 1, 1, 3}) b.add_shape(d);
    b.set_data(std::string(bits, 6));
    ASSERT_OK_AND_ASSIGN(ChannelSummary s, SummarizeBatch(b));
    EXPECT_THAT(s.min, ::testing::ElementsAre(-2));
    EXPECT_THAT(s.max, ::testing::ElementsAre(max));
    EXPECT_THAT(BatchLine(b, s), ::testing::HasSubstr(dtype == v1::DTYPE_FLOAT16 ? "] float16 " : "] bfloat16 "));
    b.set_data(std::string(bits, 4));
    EXPECT_THAT(SummarizeBatch(b), StatusIs(absl::StatusCode::kInvalidArgument, "needs 6"));
  }
}

TEST(BatchSummaryTest, JsonCarriesTheInputNormalizationOfRawUint8) {
  v1::Batch b;
  b.set_dtype(v1::DTYPE_UINT8);
  for (int64_t d : {1, 1, 1, 1}) b.add_shape(d);
  b.set_data(std::string("\xff", 1));
  b.add_input_scale(0.5f);
  b.add_input_offset(-1.0f);
  ASSERT_OK_AND_ASSIGN(ChannelSummary s, SummarizeBatch(b));
  EXPECT_THAT(BatchJson(b, s), ::testing::HasSubstr(R"("max":[255],"input_scale":[0.5],"input_offset":[-1],)"));
  b.set_dtype(static_cast<v1::DType>(9));
  EXPECT_THAT(SummarizeBatch(b), StatusIs(absl::StatusCode::kInvalidArgument, "batch dtype 9 is unknown"));
}

TEST(BatchSummaryTest, RejectsDataThatDoesNotMatchTheShape) {
  v1::Batch b = MakeBatch(v1::LAYOUT_NCHW, {1, 2, 3}, {1, 1, 2, 2});
  EXPECT_THAT(SummarizeBatch(b), StatusIs(absl::StatusCode::kInvalidArgument, "needs 16"));
}

}  // namespace
}  // namespace imagefeed
