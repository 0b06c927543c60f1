#include "server/transform/augment.h"

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/random.h"
#include "common/test_support.h"
#include "server/transform/resize.h"

namespace imagefeed {
namespace {

TEST(AugmentTest, WithoutAugmentationTheWholeImageIsUsed) {
  CropPlan c = PlanCrop(400, 300, 224, 224, AugmentOptions{}, 7);
  EXPECT_EQ(c.x, 0);
  EXPECT_EQ(c.y, 0);
  EXPECT_EQ(c.width, 400);
  EXPECT_EQ(c.height, 300);
  EXPECT_FALSE(c.flip);
}

TEST(AugmentTest, ShorterSideTakesTheCentredRegionWithTheOutputAspect) {
  AugmentOptions o;
  o.resize_mode = ResizeMode::kShorterSide;
  CropPlan c = PlanCrop(400, 300, 224, 224, o, 1);
  EXPECT_EQ(c.width, 300);
  EXPECT_EQ(c.height, 300);
  EXPECT_EQ(c.x, 50);
  EXPECT_EQ(c.y, 0);
  c = PlanCrop(300, 500, 100, 200, o, 1);  // output 1:2, source 3:5 -> crop height 500 -> width 250
  EXPECT_EQ(c.width, 250);
  EXPECT_EQ(c.height, 500);
  EXPECT_EQ(c.x, 25);
}

// torchvision Resize(256) + CenterCrop(224) of 500x375, by hand: the shorter
// side 375 -> 256, the longer int(256 * 500 / 375) = int(341.33) = 341; the
// crop starts at round((341 - 224) / 2) = round(58.5) = 58 (Python rounds
// half to even) and round((256 - 224) / 2) = 16. In source pixels that is
// x = 58 * 500 / 341 = 85.044, width 224 * 500 / 341 = 328.446, y = 16 * 375 /
// 256 = 23.4375, height 224 * 375 / 256 = 328.125.
TEST(AugmentTest, ResizeSizeCropsTheCentreOfTheResizedImage) {
  AugmentOptions o;
  o.resize_mode = ResizeMode::kShorterSide;
  o.resize_size = 256;
  CropPlan c = PlanCrop(500, 375, 224, 224, o, 1);
  EXPECT_NEAR(c.x + c.box.x, 58.0 * 500 / 341, 1e-9);
  EXPECT_NEAR(c.box.width, 224.0 * 500 / 341, 1e-9);
  EXPECT_NEAR(c.y + c.box.y, 16.0 * 375 / 256, 1e-9);
  EXPECT_NEAR(c.box.height, 224.0 * 375 / 256, 1e-9);
  // The window holds the box plus the filter's reach (scale 1.47 -> 1.47 + 1
  // pixels each side) and no more than one extra pixel.
  EXPECT_EQ(c.x, 82);  // floor(85.044 - 2.466)
  EXPECT_EQ(c.y, 20);  // floor(23.4375 - 2.465)
  EXPECT_EQ(c.x + c.width, 416);   // ceil(85.044 + 328.446 + 2.466)
  EXPECT_EQ(c.y + c.height, 355);  // ceil(23.4375 + 328.125 + 2.465)
  // Portrait: 375x500 -> 256x341, crop at left 16, top 58.
  c = PlanCrop(375, 500, 224, 224, o, 1);
  EXPECT_NEAR(c.x + c.box.x, 16.0 * 375 / 256, 1e-9);
  EXPECT_NEAR(c.y + c.box.y, 58.0 * 500 / 341, 1e-9);
  // A non-square output: 300x200 -> int(256 * 300 / 200) = 384 x 256,
  // CenterCrop(224 high, 160 wide) at left round(112) = 112, top round(16) = 16.
  c = PlanCrop(300, 200, 160, 224, o, 1);
  EXPECT_NEAR(c.x + c.box.x, 112.0 * 300 / 384, 1e-9);
  EXPECT_NEAR(c.box.width, 160.0 * 300 / 384, 1e-9);
  EXPECT_NEAR(c.y + c.box.y, 16.0 * 200 / 256, 1e-9);
  // Already 256 on the shorter side: torchvision leaves the image alone, so
  // the crop is whole pixels (round(42.5) = 42, half to even) and no box.
  c = PlanCrop(309, 256, 224, 224, o, 1);
  EXPECT_EQ(c.x, 42);
  EXPECT_EQ(c.y, 16);
  EXPECT_EQ(c.width, 224);
  EXPECT_EQ(c.height, 224);
  EXPECT_EQ(c.box.width, 0);
  // Upscaling (a 100x80 source) stays inside the image.
  c = PlanCrop(100, 80, 224, 224, o, 1);
  EXPECT_GE(c.x, 0);
  EXPECT_GE(c.y, 0);
  EXPECT_LE(c.x + c.width, 100);
  EXPECT_LE(c.y + c.height, 80);
}

// Resizing the box of the window equals resizing the whole image to the
// intermediate size and cropping (what torchvision does), up to float
// rounding of the sample centres.
TEST(AugmentTest, ResizeSizeEqualsResizeThenCrop) {
  AugmentOptions o;
  o.resize_mode = ResizeMode::kShorterSide;
  o.resize_size = 40;
  for (auto [w, h, out_w, out_h] : std::vector<std::array<int, 4>>{{125, 94, 32, 32}, {94, 125, 32, 24},
                                                                    {30, 25, 36, 40}, {48, 40, 33, 31}}) {
    SCOPED_TRACE(::testing::Message() << w << "x" << h << " -> " << out_w << "x" << out_h);
    Image img = MakeGradientImage(w, h, 3);
    for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(img.data[i] ^ (i * 37));
    const bool wide = w > h;
    const int rw = wide ? static_cast<int>(40.0 * w / h) : 40, rh = wide ? 40 : static_cast<int>(40.0 * h / w);
    const int left = static_cast<int>(std::nearbyint((rw - out_w) / 2.0));
    const int top = static_cast<int>(std::nearbyint((rh - out_h) / 2.0));
    FloatImage full, got;
    ResizeToFloat(img, rw, rh, &full);
    CropPlan c = PlanCrop(w, h, out_w, out_h, o, 3);
    ResizeRegionBoxToFloat(img, c.x, c.y, c.width, c.height, c.box, out_w, out_h, &got);
    ASSERT_EQ(got.width, out_w);
    ASSERT_EQ(got.height, out_h);
    double max_diff = 0;
    for (int y = 0; y < out_h; ++y) {
      for (int x = 0; x < out_w * 3; ++x) {
        const float want = full.data[(static_cast<size_t>(y + top) * rw + left) * 3 + x];
        max_diff = std::max(max_diff, std::fabs(double{got.data[static_cast<size_t>(y) * out_w * 3 + x]} - want));
      }
    }
    EXPECT_LT(max_diff, 1e-3);
  }
}

TEST(AugmentTest, FlipIsSeededAndFair) {
  AugmentOptions o;
  o.random_flip = true;
  int flips = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    CropPlan c = PlanCrop(10, 10, 5, 5, o, seed);
    EXPECT_EQ(c.flip, PlanCrop(10, 10, 5, 5, o, seed).flip);
    flips += c.flip;
  }
  EXPECT_GT(flips, 900);
  EXPECT_LT(flips, 1100);
}

TEST(AugmentTest, RandomResizedCropStaysInsideAndInRange) {
  AugmentOptions o;
  o.random_resized_crop = true;
  double min_area = 1, max_area = 0;
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    CropPlan c = PlanCrop(500, 375, 224, 224, o, seed);
    ASSERT_GE(c.x, 0);
    ASSERT_GE(c.y, 0);
    ASSERT_LE(c.x + c.width, 500);
    ASSERT_LE(c.y + c.height, 375);
    ASSERT_GT(c.width, 0);
    ASSERT_GT(c.height, 0);
    double area = static_cast<double>(c.width) * c.height / (500.0 * 375.0);
    double ratio = static_cast<double>(c.width) / c.height;
    if (c.width != 500 || c.height != 375) {  // not the fallback
      EXPECT_GE(area, 0.08 * 0.95);
      EXPECT_LE(ratio, 4.0 / 3.0 * 1.05);
      EXPECT_GE(ratio, 3.0 / 4.0 / 1.05);
    }
    min_area = std::min(min_area, area);
    max_area = std::max(max_area, area);
    CropPlan again = PlanCrop(500, 375, 224, 224, o, seed);
    EXPECT_EQ(again.x, c.x);
    EXPECT_EQ(again.width, c.width);
  }
  EXPECT_LT(min_area, 0.15);  // the whole range is explored
  EXPECT_GT(max_area, 0.8);
}

TEST(AugmentTest, RandomResizedCropFallsBackToAClampedCentreCrop) {
  AugmentOptions o;
  o.random_resized_crop = true;
  o.scale_min = o.scale_max = 1.0;
  o.ratio_min = 2.0;
  o.ratio_max = 3.0;  // impossible on a square image at full area
  CropPlan c = PlanCrop(100, 100, 10, 10, o, 5);
  EXPECT_EQ(c.width, 100);
  EXPECT_EQ(c.height, 50);
  EXPECT_EQ(c.y, 25);
}

TEST(AugmentTest, RegionResizeEqualsResizingACopiedCrop) {
  Image img = MakeGradientImage(40, 30, 3);
  Image crop;
  crop.Reset(17, 11, 3, 8);
  for (int y = 0; y < 11; ++y) std::memcpy(crop.row(y), img.row(y + 5) + 8 * 3, 17 * 3);
  FloatImage a, b;
  ResizeRegionToFloat(img, 8, 5, 17, 11, 9, 7, &a);
  ResizeToFloat(crop, 9, 7, &b);
  EXPECT_EQ(a.data, b.data);
  FlipHorizontal(&b);
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 9; ++x) {
      for (int k = 0; k < 3; ++k) ASSERT_EQ(b.data[(y * 9 + x) * 3 + k], a.data[(y * 9 + (8 - x)) * 3 + k]);
    }
  }
}

}  // namespace
}  // namespace imagefeed

// Golden values: the augmentation draws as shipped. A sample's crop and flip
// derive from MixSeed(seed, epoch, sample_id, 0xA06) (the call in
// server/pipeline/sample_processor.cc), so a resumed or re-run training sees
// the same augmented images; a change here changes every user's data. The
// literals were produced by running the shipped code once (commit b3f5fee)
// and reproduced independently by a Python reimplementation of SplitMix64,
// MixSeed and torchvision's RandomResizedCrop.get_params as documented in
// augment.h: tests/golden_reference.py.
namespace imagefeed {
namespace {

struct GoldenCrop {
  uint64_t seed, epoch;
  int64_t sample_id;
  int x, y, width, height;
  bool flip;
};

uint64_t SampleSeed(const GoldenCrop& g) {
  return MixSeed(g.seed, g.epoch, static_cast<uint64_t>(g.sample_id), 0xA06u);
}

void ExpectCrop(const CropPlan& c, const GoldenCrop& g) {
  SCOPED_TRACE(::testing::Message() << "seed=" << g.seed << " epoch=" << g.epoch << " sample_id=" << g.sample_id);
  EXPECT_EQ(c.x, g.x);
  EXPECT_EQ(c.y, g.y);
  EXPECT_EQ(c.width, g.width);
  EXPECT_EQ(c.height, g.height);
  EXPECT_EQ(c.flip, g.flip);
}

TEST(AugmentGoldenTest, RandomResizedCropAndFlipOf500x375To224) {
  AugmentOptions o;
  o.random_resized_crop = true;
  o.random_flip = true;
  const GoldenCrop golden[] = {
      {0, 0, 0, 272, 47, 227, 292, false},         {0, 0, 1, 104, 0, 331, 367, false},
      {42, 3, 17, 6, 18, 269, 313, true},          {7, 1, 999, 144, 16, 284, 332, true},
      {123456789, 10, 5, 62, 12, 323, 271, false},
  };
  for (const GoldenCrop& g : golden) {
    ExpectCrop(PlanCrop(500, 375, 224, 224, o, SampleSeed(g)), g);
    // Independent of the literals: the flip is drawn last, so turning it off
    // leaves the crop unchanged (documented in augment.cc).
    AugmentOptions no_flip = o;
    no_flip.random_flip = false;
    ExpectCrop(PlanCrop(500, 375, 224, 224, no_flip, SampleSeed(g)), {g.seed, g.epoch, g.sample_id, g.x, g.y,
                                                                      g.width, g.height, false});
  }
}

TEST(AugmentGoldenTest, RandomResizedCropWithCustomScaleAndRatio) {
  AugmentOptions o;
  o.random_resized_crop = true;
  o.scale_min = 0.5;
  o.scale_max = 1.0;
  o.ratio_min = 1.0;
  o.ratio_max = 2.0;
  const GoldenCrop golden[] = {
      {0, 0, 0, 294, 38, 729, 700, false},  {0, 0, 1, 81, 3, 892, 714, false},
      {42, 3, 17, 8, 29, 990, 695, false},  {7, 1, 999, 136, 26, 820, 700, false},
      {123456789, 10, 5, 13, 23, 988, 565, false},
  };
  for (const GoldenCrop& g : golden) ExpectCrop(PlanCrop(1024, 768, 224, 224, o, SampleSeed(g)), g);
}

TEST(AugmentGoldenTest, ShorterSideWithFlipOf640x480To224) {
  AugmentOptions o;
  o.resize_mode = ResizeMode::kShorterSide;
  o.random_flip = true;
  // The crop is hand-computable (the centred 480x480 square); only the coin is random.
  const GoldenCrop golden[] = {
      {0, 0, 0, 80, 0, 480, 480, false},  {0, 0, 1, 80, 0, 480, 480, true},
      {42, 3, 17, 80, 0, 480, 480, true}, {7, 1, 999, 80, 0, 480, 480, false},
      {123456789, 10, 5, 80, 0, 480, 480, false},
  };
  for (const GoldenCrop& g : golden) ExpectCrop(PlanCrop(640, 480, 224, 224, o, SampleSeed(g)), g);
}

}  // namespace
}  // namespace imagefeed
