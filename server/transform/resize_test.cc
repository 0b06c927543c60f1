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


// ---- ResizeYccToFloat against its definition, in double precision.

// Normalized triangle weights of an axis of n samples resized to `out`,
// sampling [box_start, box_start + box_len) (PIL's box).
std::vector<std::vector<double>> BoxAxis(int n, double box_start, double box_len, int out) {
  std::vector<std::vector<double>> w(out, std::vector<double>(n));
  const double scale = box_len / out, support = std::max(scale, 1.0);
  for (int o = 0; o < out; ++o) {
    const double centre = box_start + (o + 0.5) * scale;
    double total = 0;
    for (int i = 0; i < n; ++i) total += w[o][i] = std::max(0.0, 1.0 - std::fabs(i + 0.5 - centre) / support);
    for (double& v : w[o]) v /= total;
  }
  return w;
}

// libjpeg's fancy 2x upsampling of n half-resolution samples to `full`:
// sample x is 3/4 of half sample x / 2 and 1/4 of its neighbour on x's side.
std::vector<double> Upsample2(const std::vector<double>& half, int full) {
  std::vector<double> out(full);
  const int n = static_cast<int>(half.size());
  for (int x = 0; x < full; ++x) {
    const int i = x / 2, j = x % 2 == 0 ? std::max(i - 1, 0) : std::min(i + 1, n - 1);
    out[x] = 0.75 * half[i] + 0.25 * half[j];
  }
  return out;
}

TEST(ResizeTest, YccPlanesMatchTheirDefinition) {
  // Chroma upsampled to full resolution as libjpeg's fancy upsampling does
  // (explicitly, here), every plane resized with the triangle filter,
  // converted to RGB by JFIF's equations and clamped.
  struct Case { int w, h, v_sub, ow, oh; bool flip; SampleBox box; };
  uint32_t seed = 5;
  for (const Case& c : std::vector<Case>{{64, 48, 2, 24, 20, false, {}},
                                         {65, 47, 2, 24, 20, true, {}},
                                         {64, 48, 1, 21, 30, false, {}},
                                         {97, 61, 2, 40, 31, true, {3.25, 2.5, 80.5, 50.75}},
                                         {33, 70, 1, 16, 9, true, {}}}) {
    // Padded rows and columns, as libjpeg's blocks.
    const YccImage img = MakeNoiseYccImage(c.w, c.h, c.v_sub, /*row_padding=*/5, /*extra_rows=*/3, seed++);
    const int widths[3] = {c.w, img.planes[1].width, img.planes[2].width};
    const int heights[3] = {c.h, img.planes[1].height, img.planes[2].height};
    ASSERT_TRUE(YccResizeApplies(c.w, c.h, c.box, c.ow, c.oh)) << c.w << "x" << c.h;
    FloatImage out;
    ASSERT_TRUE(ResizeYccToFloat(img, c.box, c.ow, c.oh, c.flip, &out));
    ASSERT_EQ(out.data.size(), static_cast<size_t>(c.ow) * c.oh * 3);
    const SampleBox b = c.box.width > 0 ? c.box : SampleBox{0, 0, double(c.w), double(c.h)};
    const auto wx = BoxAxis(c.w, b.x, b.width, c.ow), wy = BoxAxis(c.h, b.y, b.height, c.oh);
    // Each plane at full resolution, then resized.
    std::vector<std::vector<double>> resized(3, std::vector<double>(static_cast<size_t>(c.ow) * c.oh));
    for (int p = 0; p < 3; ++p) {
      std::vector<std::vector<double>> full(c.h, std::vector<double>(c.w));
      std::vector<std::vector<double>> rows(heights[p]);
      for (int y = 0; y < heights[p]; ++y) {
        std::vector<double> row(widths[p]);
        for (int x = 0; x < widths[p]; ++x) row[x] = img.row(p, y)[x];
        rows[y] = p == 0 ? row : Upsample2(row, c.w);
      }
      for (int x = 0; x < c.w; ++x) {
        std::vector<double> column(heights[p]);
        for (int y = 0; y < heights[p]; ++y) column[y] = rows[y][x];
        const std::vector<double> up = p == 0 || c.v_sub == 1 ? column : Upsample2(column, c.h);
        for (int y = 0; y < c.h; ++y) full[y][x] = up[y];
      }
      for (int oy = 0; oy < c.oh; ++oy) {
        for (int ox = 0; ox < c.ow; ++ox) {
          double acc = 0;
          for (int y = 0; y < c.h; ++y) {
            if (wy[oy][y] == 0) continue;
            for (int x = 0; x < c.w; ++x) acc += wy[oy][y] * wx[ox][x] * full[y][x];
          }
          resized[p][static_cast<size_t>(oy) * c.ow + ox] = acc;
        }
      }
    }
    double worst = 0;
    for (int oy = 0; oy < c.oh; ++oy) {
      for (int ox = 0; ox < c.ow; ++ox) {
        const size_t i = static_cast<size_t>(oy) * c.ow + ox;
        const double y = resized[0][i], cb = resized[1][i] - 128, cr = resized[2][i] - 128;
        const double rgb[3] = {y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb};
        const int col = c.flip ? c.ow - 1 - ox : ox;
        for (int k = 0; k < 3; ++k) {
          const double expected = std::min(std::max(rgb[k], 0.0), 255.0);
          worst = std::max(worst, std::fabs(out.data[(static_cast<size_t>(oy) * c.ow + col) * 3 + k] - expected));
        }
      }
    }
    EXPECT_LT(worst, 5e-3) << c.w << "x" << c.h << " v_sub " << c.v_sub << " -> " << c.ow << "x" << c.oh;
  }
}

TEST(ResizeTest, YccPathDeclinesWhatItDoesNotDo) {
  YccImage img;
  img.width = 64;
  img.height = 48;
  img.h_sub = 2;
  img.v_sub = 2;
  img.planes[0] = YccImage::Plane{0, 64, 64, 48};
  img.planes[1] = YccImage::Plane{64 * 48, 32, 32, 24};
  img.planes[2] = YccImage::Plane{64 * 48 + 32 * 24, 32, 32, 24};
  img.data.assign(64 * 48 + 2 * 32 * 24, 128);
  FloatImage out;
  EXPECT_FALSE(YccResizeApplies(64, 48, SampleBox{}, 200, 150));  // upscaling runs horizontal-first
  EXPECT_FALSE(ResizeYccToFloat(img, SampleBox{}, 200, 150, false, &out));
  EXPECT_TRUE(out.data.empty());
  img.h_sub = 1;  // chroma not subsampled across
  EXPECT_FALSE(ResizeYccToFloat(img, SampleBox{}, 32, 24, false, &out));
  img.h_sub = 2;
  YccImage short_data = img;  // planes that do not fit the data
  short_data.data.resize(short_data.data.size() - 1);
  EXPECT_FALSE(ResizeYccToFloat(short_data, SampleBox{}, 32, 24, false, &out));
  YccImage wrong_size = img;  // chroma not half the luma width
  wrong_size.planes[1].width = 31;
  EXPECT_FALSE(ResizeYccToFloat(wrong_size, SampleBox{}, 32, 24, false, &out));
  EXPECT_TRUE(out.data.empty());
  ASSERT_TRUE(ResizeYccToFloat(img, SampleBox{}, 32, 24, false, &out));
  for (float v : out.data) ASSERT_NEAR(v, 128.0f, 1e-3);  // grey stays grey
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
