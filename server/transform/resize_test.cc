#include "server/transform/resize.h"

#include <cmath>
#include <functional>
#include <random>

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

// Separable double-precision reference: the triangle filter of each axis
// evaluated directly from its definition (weights normalized per output).
std::vector<double> SeparableReference(const Image& img, int ow, int oh) {
  auto axis = [](int n, int out) {
    std::vector<std::vector<double>> w(out, std::vector<double>(n));
    const double scale = static_cast<double>(n) / out, support = std::max(scale, 1.0);
    for (int o = 0; o < out; ++o) {
      double total = 0;
      for (int i = 0; i < n; ++i) {
        total += w[o][i] = std::max(0.0, 1.0 - std::fabs(i + 0.5 - (o + 0.5) * scale) / support);
      }
      for (double& v : w[o]) v /= total;
    }
    return w;
  };
  const int w = img.width, h = img.height, c = img.channels;
  const auto wx = axis(w, ow), wy = axis(h, oh);
  std::vector<double> rows(static_cast<size_t>(h) * ow * c, 0.0), out(static_cast<size_t>(oh) * ow * c, 0.0);
  for (int y = 0; y < h; ++y) {
    for (int o = 0; o < ow; ++o) {
      for (int x = 0; x < w; ++x) {
        if (wx[o][x] == 0) continue;
        const uint8_t* px = img.data.data() + (static_cast<size_t>(y) * w + x) * c;
        for (int k = 0; k < c; ++k) rows[(static_cast<size_t>(y) * ow + o) * c + k] += wx[o][x] * px[k];
      }
    }
  }
  for (int o = 0; o < oh; ++o) {
    for (int y = 0; y < h; ++y) {
      if (wy[o][y] == 0) continue;
      for (size_t k = 0; k < static_cast<size_t>(ow) * c; ++k) out[o * ow * c + k] += wy[o][y] * rows[y * ow * c + k];
    }
  }
  return out;
}

TEST(ResizeTest, BothPassOrdersMatchSeparableReference) {
  // The pass order is chosen by cost and memory: these shapes run
  // vertical-first (photo -> 224, tall shrink), horizontal-first (a wide
  // strip, a height that grows while the width shrinks) and both with gray
  // and RGB. Every one must equal the filter's definition.
  struct Shape { int w, h, c, ow, oh; };
  std::mt19937 rng(11);
  for (const Shape& s : std::vector<Shape>{{500, 400, 3, 224, 224}, {375, 500, 3, 224, 224}, {500, 400, 1, 224, 224},
                                           {1200, 90, 3, 40, 50}, {60, 20, 3, 30, 50}, {97, 301, 3, 64, 33},
                                           {40, 400, 1, 224, 100}}) {
    Image img;
    img.Reset(s.w, s.h, s.c, 8);
    for (auto& v : img.data) v = static_cast<uint8_t>(rng());
    FloatImage out;
    ResizeToFloat(img, s.ow, s.oh, &out);
    const std::vector<double> ref = SeparableReference(img, s.ow, s.oh);
    ASSERT_EQ(out.data.size(), ref.size());
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(out.data[i] - ref[i]));
    EXPECT_LT(worst, 2e-3) << s.w << "x" << s.h << "x" << s.c << " -> " << s.ow << "x" << s.oh;
  }
}


// Reference for an axis of n input samples resized to `out`: output o is
// the triangle-weighted average of the samples (support max(n / out, 1),
// centred at (o + 0.5) * n / out), in double precision.
double TriangleAverage(const std::function<double(int64_t)>& value, int64_t n, int o, int out) {
  const double scale = static_cast<double>(n) / out, support = std::max(scale, 1.0);
  const double centre = (o + 0.5) * scale;
  double sum = 0, weights = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = std::max(0.0, 1.0 - std::fabs(i + 0.5 - centre) / support);
    sum += w * value(i);
    weights += w;
  }
  return sum / weights;
}

// A ramp with pseudo-random detail, so every output averages different values.
uint16_t Sample(int64_t i, int64_t n, int max) {
  return static_cast<uint16_t>((max * 3 / 4) * i / n + ((i * 2654435761u) >> 13) % (max / 4));
}

// A 1 x n column (or n x 1 row when `row`) of `channels` x `depth`-bit samples.
Image Line(int64_t n, bool row, int channels, int depth) {
  Image img;
  img.Reset(row ? static_cast<int>(n) : 1, row ? 1 : static_cast<int>(n), channels, depth);
  const int max = depth == 16 ? 65535 : 255;
  for (int64_t i = 0; i < n * channels; ++i) {
    const uint16_t v = Sample(i, n * channels, max);
    if (depth == 16) {
      reinterpret_cast<uint16_t*>(img.data.data())[i] = v;
    } else {
      img.data[i] = static_cast<uint8_t>(v);
    }
  }
  return img;
}

// Resizes a line of n samples to out_w x out_h and checks every output
// against TriangleAverage along the line, replicated across the other axis.
void ExpectLineResizeMatchesReference(int64_t n, bool row, int channels, int depth, int out_w, int out_h) {
  const Image img = Line(n, row, channels, depth);
  FloatImage out;
  ResizeToFloat(img, out_w, out_h, &out);
  const int max = depth == 16 ? 65535 : 255;
  const double to_8bit = depth == 16 ? 1.0 / 257 : 1.0;
  const int along = row ? out_w : out_h;
  for (int o = 0; o < along; ++o) {
    for (int c = 0; c < channels; ++c) {
      auto value = [&](int64_t i) { return Sample(i * channels + c, n * channels, max) * to_8bit; };
      const double expected = TriangleAverage(value, n, o, along);
      for (int across = 0; across < (row ? out_h : out_w); ++across) {
        const int x = row ? o : across, y = row ? across : o;
        ASSERT_NEAR(out.data[(static_cast<size_t>(y) * out_w + x) * channels + c], expected, 0.02)
            << n << (row ? " wide" : " tall") << " output (" << x << ", " << y << ") channel " << c;
      }
    }
  }
}

TEST(ResizeTest, ExtremeAspectRatiosMatchIndependentReference) {
  ExpectLineResizeMatchesReference(2'000'000, /*row=*/false, 1, 8, 5, 7);
  ExpectLineResizeMatchesReference(2'000'000, /*row=*/true, 1, 8, 7, 5);
  ExpectLineResizeMatchesReference(2'000'000, /*row=*/false, 3, 8, 4, 3);
  ExpectLineResizeMatchesReference(2'000'000, /*row=*/true, 3, 8, 3, 4);
  ExpectLineResizeMatchesReference(1'000'000, /*row=*/false, 1, 16, 2, 3);
  ExpectLineResizeMatchesReference(1'000'000, /*row=*/true, 3, 16, 3, 2);
  // Few taps per output (weights stored): the same reference holds.
  ExpectLineResizeMatchesReference(1'000, /*row=*/false, 3, 8, 6, 9);
  ExpectLineResizeMatchesReference(1'000, /*row=*/true, 1, 16, 9, 6);
}

TEST(ResizeTest, ScratchOfATallColumnIsBoundedByTheOutput) {
  // Horizontal-first would need 224 x 2,000,000 floats (1.8 GB) here.
  const Image img = Line(2'000'000, /*row=*/false, 3, 8);
  ReleaseResizeScratch();
  FloatImage out;
  ResizeToFloat(img, 224, 224, &out);
  const size_t bound = ResizeScratchBytes(1, 2'000'000, 3, 224, 224);
  EXPECT_LE(ThreadResizeScratchBytes(), bound);
  EXPECT_LE(bound, size_t{2} << 20);
  ReleaseResizeScratch();
  EXPECT_EQ(ThreadResizeScratchBytes(), 0u);
}

TEST(ResizeTest, ScratchBoundHoldsForEveryRegion) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 400; ++iter) {
    const int w = 1 + rng() % 90, h = 1 + rng() % 90, ow = 1 + rng() % 90, oh = 1 + rng() % 90;
    const int c = 1 + rng() % 4, rw = 1 + rng() % w, rh = 1 + rng() % h;
    Image img;
    img.Reset(w, h, c, 8);
    ReleaseResizeScratch();
    FloatImage out;
    ResizeRegionToFloat(img, w - rw, h - rh, rw, rh, ow, oh, &out);
    ASSERT_LE(ThreadResizeScratchBytes(), ResizeScratchBytes(w, h, c, ow, oh))
        << rw << "x" << rh << " of " << w << "x" << h << " -> " << ow << "x" << oh << " c" << c;
  }
}

}  // namespace
}  // namespace imagefeed
