#include "server/transform/augment.h"

#include <cmath>

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
