#include "server/transform/resize.h"

#include <cmath>

#include "common/test_support.h"

namespace imagefeed {
namespace {

Image Gray8(int w, int h, const std::vector<uint8_t>& px) {
  Image img;
  img.Reset(w, h, 1, 8);
  img.data = px;
  return img;
}

TEST(ResizeTest, SameSizeIsExactConversion) {
  Image img = MakeGradientImage(7, 5, 3);
  FloatImage out;
  ResizeToFloat(img, 7, 5, &out);
  ASSERT_EQ(out.data.size(), img.data.size());
  for (size_t i = 0; i < img.data.size(); ++i) EXPECT_EQ(out.data[i], static_cast<float>(img.data[i]));
}

TEST(ResizeTest, SixteenBitKeepsPrecision) {
  Image img;
  img.Reset(1, 1, 1, 16);
  img.row16(0)[0] = 257 * 100 + 128;  // between 8-bit levels 100 and 101
  FloatImage out;
  ResizeToFloat(img, 1, 1, &out);
  EXPECT_NEAR(out.data[0], 100.498f, 1e-3);
}

TEST(ResizeTest, ConstantImageStaysConstant) {
  Image img;
  img.Reset(37, 23, 3, 8);
  std::fill(img.data.begin(), img.data.end(), 77);
  for (auto [w, h] : std::vector<std::pair<int, int>>{{5, 3}, {100, 61}, {37, 1}, {1, 1}, {224, 224}}) {
    FloatImage out;
    ResizeToFloat(img, w, h, &out);
    ASSERT_EQ(out.data.size(), static_cast<size_t>(w) * h * 3);
    for (float v : out.data) ASSERT_NEAR(v, 77.0f, 1e-3) << w << "x" << h;
  }
}

TEST(ResizeTest, HalvingAveragesPairsWithAntialiasing) {
  // 4 -> 2 along x: the triangle filter widened to support 2 covers
  // in[0..2] for out 0 with weights 0.25, 0.75, 0.75, 0.25 (normalized over
  // the in-range taps): out0 = (0.75*a + 0.75*b + 0.25*c) / 1.75.
  Image img = Gray8(4, 1, {0, 100, 200, 60});
  FloatImage out;
  ResizeToFloat(img, 2, 1, &out);
  EXPECT_NEAR(out.data[0], (0.75 * 0 + 0.75 * 100 + 0.25 * 200) / 1.75, 1e-4);
  EXPECT_NEAR(out.data[1], (0.25 * 100 + 0.75 * 200 + 0.75 * 60) / 1.75, 1e-4);
}

TEST(ResizeTest, UpscaleIsBilinearWithHalfPixelCentres) {
  // 2 -> 4: output centres at 0.25, 0.75, 1.25, 1.75 in input pixel units
  // (minus 0.5 for input centres) -> clamped at the borders.
  Image img = Gray8(2, 1, {0, 100});
  FloatImage out;
  ResizeToFloat(img, 4, 1, &out);
  EXPECT_NEAR(out.data[0], 0.0, 1e-4);
  EXPECT_NEAR(out.data[1], 25.0, 1e-4);
  EXPECT_NEAR(out.data[2], 75.0, 1e-4);
  EXPECT_NEAR(out.data[3], 100.0, 1e-4);
}

TEST(ResizeTest, DownscaleMatchesIndependentAreaReference) {
  // Against a direct 2D evaluation of the separable triangle filter.
  Image img = MakeGradientImage(50, 40, 3);
  const int ow = 13, oh = 9;
  FloatImage out;
  ResizeToFloat(img, ow, oh, &out);
  auto weight = [](double dist, double fs) { return std::max(0.0, 1.0 - std::fabs(dist / fs)); };
  double sx = 50.0 / ow, sy = 40.0 / oh;
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      for (int c = 0; c < 3; ++c) {
        double cx = (ox + 0.5) * sx, cy = (oy + 0.5) * sy, acc = 0, wsum_x = 0, wsum_y = 0;
        for (int x = 0; x < 50; ++x) wsum_x += weight(x + 0.5 - cx, sx);
        for (int y = 0; y < 40; ++y) wsum_y += weight(y + 0.5 - cy, sy);
        for (int y = 0; y < 40; ++y) {
          for (int x = 0; x < 50; ++x) {
            acc += weight(x + 0.5 - cx, sx) * weight(y + 0.5 - cy, sy) * img.data[(y * 50 + x) * 3 + c];
          }
        }
        EXPECT_NEAR(out.data[(oy * ow + ox) * 3 + c], acc / (wsum_x * wsum_y), 0.01);
      }
    }
  }
}

}  // namespace
}  // namespace imagefeed
