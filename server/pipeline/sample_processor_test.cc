#include "server/pipeline/sample_processor.h"

#include "common/image_encoders.h"
#include "common/test_support.h"

namespace imagefeed {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(SampleProcessorTest, SixteenBitKeepsPrecisionInFloatAndTruncatesForUint8) {
  Image img = MakeGradientImage(5, 4, 3, 16);
  img.row16(0)[0] = 0x80FF;  // v >> 8 = 128, v / 257 = 128.49
  img.row16(0)[1] = 0x00C8;  // v >> 8 = 0,   v / 257 = 0.78
  auto png = EncodePng(img);
  ASSERT_OK(png);
  SampleTransform t;
  t.layout = TensorLayout::kNHWC;
  t.normalize.mode = NormalizeMode::kNone;
  FloatImage resized;
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 0, &resized));
  std::vector<float> f(5 * 4 * 3);
  WriteSample(resized, t, reinterpret_cast<uint8_t*>(f.data()));
  EXPECT_NEAR(f[0], 0x80FF / 257.0, 1e-3);
  EXPECT_NEAR(f[1], 0x00C8 / 257.0, 1e-3);

  t.dtype = OutputDType::kUint8;
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 0, &resized));
  std::vector<uint8_t> u(5 * 4 * 3);
  WriteSample(resized, t, u.data());
  for (size_t i = 0; i < u.size(); ++i) {
    uint16_t v = reinterpret_cast<const uint16_t*>(img.data.data())[i];
    ASSERT_EQ(u[i], v >> 8) << i;
  }
}

TEST(SampleProcessorTest, FlipAndCropFollowTheSampleSeed) {
  Image img = MakeGradientImage(20, 10, 3);
  auto png = EncodePng(img);
  ASSERT_OK(png);
  SampleTransform t;
  t.out_width = 8;
  t.out_height = 8;
  t.augment.random_resized_crop = true;
  t.seed = 5;
  FloatImage a, b, c;
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 1, &a));
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 1, &b));
  EXPECT_EQ(a.data, b.data);
  bool differs = false;
  for (int64_t id = 2; id < 10 && !differs; ++id) {
    ASSERT_OK(DecodeAndResize(Bytes(*png), t, id, &c));
    differs = c.data != a.data;
  }
  EXPECT_TRUE(differs);
}

TEST(SampleProcessorTest, DecodeErrorsAreReported) {
  SampleTransform t;
  FloatImage out;
  EXPECT_THAT(DecodeAndResize(Bytes("GIF89a"), t, 0, &out), StatusIs(absl::StatusCode::kInvalidArgument, "not a JPEG or PNG"));
}

}  // namespace
}  // namespace imagefeed
