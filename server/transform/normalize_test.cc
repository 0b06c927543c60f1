#include "server/transform/normalize.h"

#include <cmath>

#include "common/test_support.h"

namespace imagefeed {
namespace {

using ::testing::Each;
using ::testing::FloatNear;

FloatImage Make(int w, int h, int c, std::vector<float> values) {
  FloatImage img;
  img.Reset(w, h, c);
  img.data = std::move(values);
  return img;
}

std::vector<float> Normalize(const FloatImage& img, int out_c, NormalizeParams p, TensorLayout layout) {
  std::vector<float> out(static_cast<size_t>(img.width) * img.height * out_c, -999.0f);
  NormalizeInto(img, out_c, p, layout, out.data());
  return out;
}

TEST(NormalizeTest, NoneAndRescale) {
  FloatImage img = Make(2, 1, 1, {0, 255});
  NormalizeParams p;
  p.mode = NormalizeMode::kNone;
  EXPECT_THAT(Normalize(img, 1, p, TensorLayout::kNCHW), ::testing::ElementsAre(0, 255));
  p.mode = NormalizeMode::kRescale;  // default scale 1/255, offset 0
  EXPECT_THAT(Normalize(img, 1, p, TensorLayout::kNCHW), ::testing::ElementsAre(0, FloatNear(1.0f, 1e-6)));
  p.scale = 1.0f / 127.5f;
  p.offset = -1.0f;
  EXPECT_THAT(Normalize(img, 1, p, TensorLayout::kNCHW),
              ::testing::ElementsAre(FloatNear(-1.0f, 1e-6), FloatNear(1.0f, 1e-6)));
}

TEST(NormalizeTest, LayoutsAndGrayReplication) {
  // 2 pixels RGB: (1,2,3) (4,5,6).
  FloatImage img = Make(2, 1, 3, {1, 2, 3, 4, 5, 6});
  NormalizeParams p;
  p.mode = NormalizeMode::kNone;
  EXPECT_THAT(Normalize(img, 3, p, TensorLayout::kNHWC), ::testing::ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(Normalize(img, 3, p, TensorLayout::kNCHW), ::testing::ElementsAre(1, 4, 2, 5, 3, 6));
  FloatImage gray = Make(2, 1, 1, {7, 9});
  EXPECT_THAT(Normalize(gray, 3, p, TensorLayout::kNCHW), ::testing::ElementsAre(7, 9, 7, 9, 7, 9));
  EXPECT_THAT(Normalize(gray, 3, p, TensorLayout::kNHWC), ::testing::ElementsAre(7, 7, 7, 9, 9, 9));
  // RGB -> luma (ITU-R 601).
  EXPECT_THAT(Normalize(Make(1, 1, 3, {100, 50, 200}), 1, p, TensorLayout::kNCHW),
              ::testing::ElementsAre(FloatNear(0.299f * 100 + 0.587f * 50 + 0.114f * 200, 1e-4)));
}

TEST(NormalizeTest, StandardizeAndMinMaxUseDatasetStatistics) {
  FloatImage img = Make(1, 1, 3, {51, 102, 255});
  NormalizeParams p;
  p.mode = NormalizeMode::kStandardize;
  p.mean = {0.1, 0.2, 0.3};
  p.std = {0.5, 0.0, 0.25};  // zero std -> 0, never NaN/Inf
  EXPECT_THAT(Normalize(img, 3, p, TensorLayout::kNHWC),
              ::testing::ElementsAre(FloatNear((0.2 - 0.1) / 0.5, 1e-6), 0.0f, FloatNear((1.0 - 0.3) / 0.25, 1e-5)));
  p.mode = NormalizeMode::kMinMax;
  p.min = {0.0, 0.4, 0.2};
  p.max = {0.4, 0.4, 1.0};  // zero range -> 0
  EXPECT_THAT(Normalize(img, 3, p, TensorLayout::kNHWC),
              ::testing::ElementsAre(FloatNear(0.5, 1e-6), 0.0f, FloatNear(1.0, 1e-6)));
}

TEST(NormalizeTest, PerImageModes) {
  FloatImage img = Make(2, 2, 1, {0, 51, 102, 255});
  NormalizeParams p;
  p.mode = NormalizeMode::kPerImageMinMax;
  EXPECT_THAT(Normalize(img, 1, p, TensorLayout::kNCHW),
              ::testing::ElementsAre(0.0f, FloatNear(0.2, 1e-6), FloatNear(0.4, 1e-6), FloatNear(1.0, 1e-6)));
  p.mode = NormalizeMode::kPerImageStandardize;
  double mean = (0 + 51 + 102 + 255) / 4.0;
  double var = (mean * mean + (51 - mean) * (51 - mean) + (102 - mean) * (102 - mean) + (255 - mean) * (255 - mean)) / 4;
  std::vector<float> out = Normalize(img, 1, p, TensorLayout::kNCHW);
  EXPECT_NEAR(out[3], (255 - mean) / std::sqrt(var), 1e-5);
  p.mode = NormalizeMode::kL2;
  out = Normalize(img, 1, p, TensorLayout::kNCHW);
  double norm = std::sqrt(0.2 * 0.2 + 0.4 * 0.4 + 1.0);
  EXPECT_NEAR(out[3], 1.0 / norm, 1e-6);
}

TEST(NormalizeTest, ConstantAndZeroImagesNeverProduceNanOrInf) {
  for (float value : {0.0f, 128.0f}) {
    FloatImage img = Make(3, 2, 3, std::vector<float>(18, value));
    for (NormalizeMode mode : {NormalizeMode::kL2, NormalizeMode::kPerImageStandardize,
                               NormalizeMode::kPerImageMinMax, NormalizeMode::kStandardize, NormalizeMode::kMinMax}) {
      NormalizeParams p;  // zero dataset statistics
      p.mode = mode;
      for (float v : Normalize(img, 3, p, TensorLayout::kNCHW)) ASSERT_TRUE(std::isfinite(v)) << static_cast<int>(mode);
    }
    NormalizeParams p;
    p.mode = NormalizeMode::kPerImageStandardize;  // (x - mean) / (1/sqrt(n)) = 0 for a constant image
    EXPECT_THAT(Normalize(img, 3, p, TensorLayout::kNCHW), Each(FloatNear(0.0f, 1e-6)));
    p.mode = NormalizeMode::kPerImageMinMax;
    EXPECT_THAT(Normalize(img, 3, p, TensorLayout::kNCHW), Each(0.0f));
  }
}

TEST(NormalizeTest, Uint8RoundsAndClamps) {
  FloatImage img = Make(4, 1, 1, {-3.0f, 0.49f, 127.5f, 300.0f});
  std::vector<uint8_t> out(12);
  ConvertToUint8(img, 3, TensorLayout::kNHWC, out.data());
  EXPECT_THAT(out, ::testing::ElementsAre(0, 0, 0, 0, 0, 0, 128, 128, 128, 255, 255, 255));
}

}  // namespace
}  // namespace imagefeed
