// The SIMD kernels against the scalar reference path, on every target this
// CPU supports (SSSE3, SSE4, AVX2, AVX-512, ... one after another): equal bit
// for bit, since both do the same float operations in the same order.
#include "server/transform/simd_kernels.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "hwy/targets.h"
#include "server/transform/normalize.h"
#include "server/transform/resize.h"

namespace imagefeed {
namespace {

// Runs `body` once per supported target, with the kernels dispatching to it.
template <typename Body>
void ForEachTarget(Body body) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    ASSERT_STREQ(simd::DispatchedTargetName(), hwy::TargetName(target));
    SCOPED_TRACE(hwy::TargetName(target));
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

Image RandomImage(std::mt19937& rng, int w, int h, int c, int depth) {
  Image img;
  img.Reset(w, h, c, depth);
  if (depth == 16) {
    for (int y = 0; y < h; ++y) {
      for (int k = 0; k < w * c; ++k) img.row16(y)[k] = static_cast<uint16_t>(rng());
    }
  } else {
    for (uint8_t& v : img.data) v = static_cast<uint8_t>(rng());
  }
  return img;
}

// Bitwise equality (so -0 vs +0 or a NaN would show).
::testing::AssertionResult SameBits(const FloatImage& a, const FloatImage& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels || a.data.size() != b.data.size()) {
    return ::testing::AssertionFailure() << "shapes differ";
  }
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (std::memcmp(&a.data[i], &b.data[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << "at " << i << ": " << a.data[i] << " vs " << b.data[i];
    }
  }
  return ::testing::AssertionSuccess();
}

struct ResizeCase {
  int w, h, c, depth, x, y, rw, rh, ow, oh;
  bool flip;
  std::string Describe() const {
    return std::to_string(rw) + "x" + std::to_string(rh) + " at " + std::to_string(x) + "," + std::to_string(y) +
           " of " + std::to_string(w) + "x" + std::to_string(h) + " c" + std::to_string(c) + " d" +
           std::to_string(depth) + " -> " + std::to_string(ow) + "x" + std::to_string(oh) + (flip ? " flip" : "");
  }
};

void ExpectResizeMatchesReference(std::mt19937& rng, const ResizeCase& k) {
  const Image img = RandomImage(rng, k.w, k.h, k.c, k.depth);
  FloatImage fast, ref;
  ResizeRegionToFloat(img, k.x, k.y, k.rw, k.rh, k.ow, k.oh, k.flip, &fast);
  ResizeRegionToFloatReference(img, k.x, k.y, k.rw, k.rh, k.ow, k.oh, k.flip, &ref);
  EXPECT_TRUE(SameBits(fast, ref)) << k.Describe();
}

TEST(SimdKernelsTest, ResizeEqualsReferenceOnRandomSizes) {
  ForEachTarget([] {
    std::mt19937 rng(11);
    for (int iter = 0; iter < 300; ++iter) {
      ResizeCase k;
      // Mostly small sizes (every remainder of the vector lengths), some 1 x N and N x 1.
      k.w = iter % 10 == 0 ? 1 : 1 + static_cast<int>(rng() % 70);
      k.h = iter % 10 == 1 ? 1 : 1 + static_cast<int>(rng() % 70);
      k.c = rng() % 2 == 0 ? 1 : 3;
      k.depth = rng() % 4 == 0 ? 16 : 8;
      k.rw = 1 + static_cast<int>(rng() % k.w);
      k.rh = 1 + static_cast<int>(rng() % k.h);
      k.x = static_cast<int>(rng() % (k.w - k.rw + 1));
      k.y = static_cast<int>(rng() % (k.h - k.rh + 1));
      k.ow = iter % 10 == 2 ? 1 : 1 + static_cast<int>(rng() % 90);
      k.oh = iter % 10 == 3 ? 1 : 1 + static_cast<int>(rng() % 90);
      k.flip = rng() % 2 == 0;
      ExpectResizeMatchesReference(rng, k);
    }
  });
}

TEST(SimdKernelsTest, ResizeEqualsReferenceOnPhotoSizes) {
  ForEachTarget([] {
    std::mt19937 rng(12);
    const std::vector<ResizeCase> cases = {
        {500, 375, 3, 8, 0, 0, 500, 375, 224, 224, false},   // stretch, horizontal first
        {500, 375, 3, 8, 38, 0, 375, 375, 224, 224, true},   // centre square, flipped
        {500, 375, 1, 8, 0, 0, 500, 375, 224, 224, false},   // gray
        {500, 375, 3, 16, 3, 5, 401, 333, 256, 192, true},   // 16-bit
        {100, 900, 3, 8, 0, 0, 100, 900, 224, 224, true},    // vertical first (wider, shorter)
        {224, 224, 3, 8, 0, 0, 224, 224, 224, 224, true},    // same size: a conversion
        {60, 40, 3, 8, 0, 0, 60, 40, 333, 257, false},       // upscale
    };
    for (const ResizeCase& k : cases) ExpectResizeMatchesReference(rng, k);
  });
}

TEST(SimdKernelsTest, FlipIsTheMirrorOfTheUnflippedResize) {
  // Independent of the reference: column x of the flipped output is column w-1-x of the plain one.
  std::mt19937 rng(13);
  const Image img = RandomImage(rng, 97, 61, 3, 8);
  FloatImage plain, flipped;
  ResizeRegionToFloat(img, 0, 0, 97, 61, 45, 30, false, &plain);
  ResizeRegionToFloat(img, 0, 0, 97, 61, 45, 30, true, &flipped);
  for (int y = 0; y < 30; ++y) {
    for (int x = 0; x < 45; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(flipped.data[(y * 45 + x) * 3 + c], plain.data[(y * 45 + 44 - x) * 3 + c]) << x << "," << y;
      }
    }
  }
}

FloatImage RandomFloatImage(std::mt19937& rng, int w, int h, int c) {
  FloatImage img;
  img.Reset(w, h, c);
  std::uniform_real_distribution<float> any(-20.0f, 280.0f);
  // Ties and near-ties of the uint8 rounding, and out-of-range values.
  const float special[] = {0.5f, 1.5f, 2.5f, 254.5f, 0.49999997f, 0.50000006f, -0.5f, -3.0f, 255.49998f, 300.0f, 0.0f};
  for (float& v : img.data) v = rng() % 4 == 0 ? special[rng() % (sizeof(special) / sizeof(float))] : any(rng);
  return img;
}

// The YCbCr-plane resize has no separate scalar reference: targets with
// 8-float vectors run the strip kernel, the others its scalar loops, and
// all must agree bit for bit (resize_test checks the math itself).
TEST(SimdKernelsTest, YccResizeIsTheSameOnEveryTarget) {
  struct Case { int w, h, v_sub, ow, oh; bool flip; };
  uint32_t seed = 9;
  for (const Case& c : std::vector<Case>{{500, 375, 2, 224, 224, false}, {333, 500, 1, 224, 224, true},
                                         {101, 67, 2, 45, 31, true}, {640, 480, 2, 160, 120, false}}) {
    const YccImage img = MakeNoiseYccImage(c.w, c.h, c.v_sub, /*row_padding=*/3, /*extra_rows=*/0, seed++);
    std::vector<FloatImage> outs;
    ForEachTarget([&] {
      FloatImage out;
      ASSERT_TRUE(ResizeYccToFloat(img, SampleBox{}, c.ow, c.oh, c.flip, &out));
      outs.push_back(out);
    });
    ASSERT_GE(outs.size(), 2u) << "one target: nothing compared";
    for (size_t t = 1; t < outs.size(); ++t) {
      EXPECT_TRUE(SameBits(outs[t], outs[0])) << c.w << "x" << c.h << ", target " << t;
    }
  }
}

TEST(SimdKernelsTest, NormalizeAndUint8EqualReferenceInEveryModeAndLayout) {
  ForEachTarget([] {
    std::mt19937 rng(14);
    const NormalizeMode modes[] = {NormalizeMode::kNone,         NormalizeMode::kRescale,
                                   NormalizeMode::kStandardize,  NormalizeMode::kMinMax,
                                   NormalizeMode::kL2,           NormalizeMode::kPerImageStandardize,
                                   NormalizeMode::kPerImageMinMax};
    for (int iter = 0; iter < 200; ++iter) {
      const int w = 1 + static_cast<int>(rng() % 40), h = 1 + static_cast<int>(rng() % 40);
      const int sc = rng() % 2 == 0 ? 1 : 3, oc = rng() % 2 == 0 ? 1 : 3;
      const TensorLayout layout = rng() % 2 == 0 ? TensorLayout::kNCHW : TensorLayout::kNHWC;
      const FloatImage img = RandomFloatImage(rng, w, h, sc);
      NormalizeParams p;
      p.mode = modes[iter % 7];
      p.mean = {0.485, 0.456, 0.406};
      p.std = {0.229, 0.224, 0.225};
      p.min = {0.01, 0.02, 0.0};
      p.max = {0.9, 0.95, 1.0};
      const size_t n = static_cast<size_t>(w) * h * oc;
      std::vector<float> fast(n, -1), ref(n, -2);
      NormalizeInto(img, oc, p, layout, fast.data());
      NormalizeIntoReference(img, oc, p, layout, ref.data());
      ASSERT_EQ(0, std::memcmp(fast.data(), ref.data(), n * sizeof(float)))
          << w << "x" << h << " c" << sc << "->" << oc << " mode " << static_cast<int>(p.mode);
      std::vector<uint8_t> fast8(n, 1), ref8(n, 2);
      ConvertToUint8(img, oc, layout, fast8.data());
      ConvertToUint8Reference(img, oc, layout, ref8.data());
      ASSERT_EQ(fast8, ref8) << w << "x" << h << " c" << sc << "->" << oc;
    }
  });
}

// One sample written into a slot `byte_offset` bytes past a 64-byte boundary,
// with guard bytes around it: the reference's values, nothing outside.
void ExpectSlotWriteAt(const FloatImage& img, int oc, const NormalizeParams& p, size_t byte_offset) {
  const size_t n = img.data.size() / img.channels * oc;
  std::vector<float> ref(n);
  NormalizeIntoReference(img, oc, p, TensorLayout::kNCHW, ref.data());
  constexpr size_t kGuard = 64;
  std::vector<uint8_t> buf(n * sizeof(float) + 2 * kGuard + 64, 0xA5);
  const size_t base = (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
  uint8_t* slot = buf.data() + base + kGuard + byte_offset;
  NormalizeInto(img, oc, p, TensorLayout::kNCHW, reinterpret_cast<float*>(slot));
  ASSERT_EQ(0, std::memcmp(slot, ref.data(), n * sizeof(float)));
  for (size_t k = 0; k < buf.size(); ++k) {
    if (buf.data() + k < slot || buf.data() + k >= slot + n * sizeof(float)) {
      ASSERT_EQ(buf[k], 0xA5) << "byte " << k << " outside the slot";
    }
  }
}

TEST(SimdKernelsTest, Float32SlotsAtAnyAlignmentEqualReferenceAndStayInBounds) {
  // Float32 slots are written with streaming stores from the first
  // vector-aligned element: every float offset from a 64-byte boundary,
  // planes that are and are not whole vectors, per-channel planes
  // (standardize) and one element-wise map (rescale).
  ForEachTarget([] {
    std::mt19937 rng(15);
    for (const auto& [w, h] : std::vector<std::pair<int, int>>{{16, 16}, {32, 8}, {37, 11}, {64, 64}, {3, 1}}) {
      for (int sc : {1, 3}) {
        for (int oc : {1, 3}) {
          for (NormalizeMode mode : {NormalizeMode::kStandardize, NormalizeMode::kRescale}) {
            const FloatImage img = RandomFloatImage(rng, w, h, sc);
            NormalizeParams p;
            p.mode = mode;
            p.mean = {0.485, 0.456, 0.406};
            p.std = {0.229, 0.224, 0.225};
            for (size_t offset = 0; offset <= 64; offset += sizeof(float)) {
              SCOPED_TRACE(testing::Message() << w << "x" << h << " c" << sc << "->" << oc << " mode "
                                              << static_cast<int>(mode) << " offset " << offset);
              ExpectSlotWriteAt(img, oc, p, offset);
            }
          }
        }
      }
    }
  });
}

TEST(SimdKernelsTest, Uint8RoundsHalvesAwayFromZeroAndClamps) {
  // Hand-computed (std::lround semantics); 40 values so every target's vector
  // loop, not only the scalar tail, sees each of them.
  const std::vector<std::pair<float, int>> cases = {
      {0.5f, 1},      {1.5f, 2},   {2.5f, 3},   {254.5f, 255}, {0.49999997f, 0}, {1.4999999f, 1},
      {-0.5f, 0},     {-7.0f, 0},  {300.0f, 255}, {255.49998f, 255}, {127.50001f, 128}, {3.0f, 3},
      {0.0f, 0},      {99.99f, 100}};
  ForEachTarget([&] {
    FloatImage img;
    img.Reset(40, 1, 1);
    for (int i = 0; i < 40; ++i) img.data[i] = cases[i % cases.size()].first;
    std::vector<uint8_t> out(40);
    ConvertToUint8(img, 1, TensorLayout::kNCHW, out.data());
    for (int i = 0; i < 40; ++i) EXPECT_EQ(out[i], cases[i % cases.size()].second) << img.data[i];
  });
}

}  // namespace
}  // namespace imagefeed
