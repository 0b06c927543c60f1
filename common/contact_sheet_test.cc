#include "common/contact_sheet.h"

#include <cmath>

#include "common/half_float.h"
#include "common/test_support.h"

namespace imagefeed {
namespace {

using Mode = Denormalization::Mode;
using ::testing::ElementsAre;

// A batch of `n` images h x w x c whose value at (sample, channel, y, x) is
// f(sample, channel, y, x), in the given layout and dtype.
template <typename F>
v1::Batch MakeBatch(int n, int c, int h, int w, v1::Layout layout, v1::DType dtype, F f) {
  v1::Batch b;
  b.set_layout(layout);
  b.set_dtype(dtype);
  const bool nhwc = layout == v1::LAYOUT_NHWC;
  for (int d : nhwc ? std::vector<int>{n, h, w, c} : std::vector<int>{n, c, h, w}) b.add_shape(d);
  std::string data;
  for (int s = 0; s < n; ++s) {
    b.add_labels(s % 3);
    b.add_sample_ids(100 + s);
    for (int i = 0; i < c * h * w; ++i) {
      // Memory order: NCHW walks (channel, y, x); NHWC walks (y, x, channel).
      const int ch = nhwc ? i % c : i / (h * w);
      const int y = nhwc ? i / (w * c) : (i / w) % h;
      const int x = nhwc ? (i / c) % w : i % w;
      const double v = f(s, ch, y, x);
      if (dtype == v1::DTYPE_UINT8) {
        data += static_cast<char>(static_cast<uint8_t>(v));
      } else if (dtype == v1::DTYPE_FLOAT16 || dtype == v1::DTYPE_BFLOAT16) {
        const float fv = static_cast<float>(v);
        const uint16_t bits = dtype == v1::DTYPE_FLOAT16 ? FloatToHalfBits(fv) : FloatToBFloat16Bits(fv);
        data += static_cast<char>(bits & 0xff);
        data += static_cast<char>(bits >> 8);
      } else {
        const float fv = static_cast<float>(v);
        data.append(reinterpret_cast<const char*>(&fv), 4);
      }
    }
  }
  b.set_data(data);
  return b;
}

const uint8_t* Pixel(const Image& image, int x, int y) { return image.row(y) + x * 3; }

TEST(DenormalizationTest, FollowsTheRequest) {
  v1::StreamBatchesRequest r;
  EXPECT_EQ(DenormalizationFor(r).mode, Mode::kInverseAffine);  // unspecified = rescale
  EXPECT_DOUBLE_EQ(DenormalizationFor(r).scale, 1.0 / 255.0);
  r.set_normalize(v1::NORMALIZATION_RESCALE);
  r.set_scale(2.0f / 255.0f);
  r.set_offset(-1);
  EXPECT_EQ(DenormalizationFor(r).mode, Mode::kInverseAffine);
  EXPECT_FLOAT_EQ(DenormalizationFor(r).scale, 2.0f / 255.0f);
  EXPECT_EQ(DenormalizationFor(r).offset, -1);
  r.set_scale(0);
  EXPECT_EQ(DenormalizationFor(r).mode, Mode::kStretch);
  r.set_normalize(v1::NORMALIZATION_NONE);
  EXPECT_EQ(DenormalizationFor(r).mode, Mode::kIdentity);
  for (auto mode : {v1::NORMALIZATION_STANDARDIZE, v1::NORMALIZATION_MINMAX, v1::NORMALIZATION_L2,
                    v1::NORMALIZATION_PER_IMAGE_STANDARDIZE, v1::NORMALIZATION_PER_IMAGE_MINMAX}) {
    r.set_normalize(mode);
    EXPECT_EQ(DenormalizationFor(r).mode, Mode::kStretch) << mode;
  }
  r.set_dtype(v1::DTYPE_FLOAT16);  // the normalized values, like float32
  EXPECT_EQ(DenormalizationFor(r).mode, Mode::kStretch);
  r.set_dtype(v1::DTYPE_UINT8);  // raw values, also when a normalization travels with them
  EXPECT_EQ(DenormalizationFor(r).mode, Mode::kIdentity);
}

TEST(DenormalizationTest, MapsValuesBackToBytes) {
  EXPECT_THAT(DenormalizeTile({-5, 12.4, 12.6, 300, NAN}, {Mode::kIdentity}), ElementsAre(0, 12, 13, 255, 0));
  EXPECT_THAT(DenormalizeTile({0, 10 / 255.0, 1}, {Mode::kInverseAffine, 1 / 255.0, 0}), ElementsAre(0, 10, 255));
  EXPECT_THAT(DenormalizeTile({-1, 0, 1}, {Mode::kInverseAffine, 2 / 255.0, -1}), ElementsAre(0, 128, 255));
  EXPECT_THAT(DenormalizeTile({-2, 0, 2, INFINITY}, {Mode::kStretch}), ElementsAre(0, 128, 255, 0));
  EXPECT_THAT(DenormalizeTile({0.3, 0.3}, {Mode::kStretch}), ElementsAre(0, 0));
  EXPECT_THAT(DenormalizeTile({-2, 2}, {Mode::kInverseAffine, 0, 0}), ElementsAre(0, 255));
}

TEST(SheetLayoutTest, SmallImagesAreZoomedIntoANearlySquareGrid) {
  SheetLayout l = LayoutContactSheet(32, 64, 64);
  EXPECT_EQ(l.zoom, 2);
  EXPECT_EQ(l.shrink, 1);
  EXPECT_EQ(l.tile_width, 128);
  EXPECT_EQ(l.tile_height, 128);
  EXPECT_EQ(l.columns, 6);
  EXPECT_EQ(l.rows, 6);
  EXPECT_EQ(l.font_scale, 1);
  EXPECT_EQ(l.width, l.gap + 6 * (128 + l.gap));
  EXPECT_EQ(l.height, l.gap + 6 * (128 + l.label_height + l.gap));
  EXPECT_EQ(l.CellX(7), l.gap + 128 + l.gap);
  EXPECT_EQ(l.CellY(7), l.gap + 128 + l.label_height + l.gap);
  EXPECT_EQ(LayoutContactSheet(1, 8, 8).zoom, 8);
  EXPECT_EQ(LayoutContactSheet(1, 10, 1000).zoom, 1);  // never taller than 512 px
}

TEST(SheetLayoutTest, LargeImagesAreShrunkAndGetBiggerLabels) {
  SheetLayout l = LayoutContactSheet(4, 600, 400);
  EXPECT_EQ(l.shrink, 3);
  EXPECT_EQ(l.tile_width, 200);
  EXPECT_EQ(l.tile_height, 133);
  EXPECT_EQ(l.font_scale, 2);
  EXPECT_EQ(l.columns, 2);
  EXPECT_EQ(LayoutContactSheet(4, 224, 224).shrink, 1);
  EXPECT_EQ(LayoutContactSheet(4, 224, 224).font_scale, 2);
}

TEST(SheetLayoutTest, ExplicitColumns) {
  SheetLayout l = LayoutContactSheet(10, 100, 100, 4);
  EXPECT_EQ(l.columns, 4);
  EXPECT_EQ(l.rows, 3);
  EXPECT_EQ(LayoutContactSheet(3, 100, 100, 8).columns, 3);
}

TEST(TileLabelTest, ClassNameOrNumberShortenedToFit) {
  const std::vector<std::string> names = {"circle", "triangle"};
  EXPECT_EQ(TileLabel(1, names, 20), "triangle");
  EXPECT_EQ(TileLabel(1, names, 6), "tria..");
  EXPECT_EQ(TileLabel(1, names, 2), "tr");
  EXPECT_EQ(TileLabel(7, names, 20), "7");
  EXPECT_EQ(TileLabel(-1, names, 20), "-1");
}

TEST(ContactSheetTest, TilesHoldTheDenormalizedPixelsOfEitherLayout) {
  auto value = [](int s, int c, int y, int x) { return (s * 50 + c * 20 + y * 4 + x) / 255.0; };
  v1::Batch nchw = MakeBatch(3, 3, 8, 8, v1::LAYOUT_NCHW, v1::DTYPE_FLOAT32, value);
  v1::Batch nhwc = MakeBatch(3, 3, 8, 8, v1::LAYOUT_NHWC, v1::DTYPE_FLOAT32, value);
  const Denormalization d{Mode::kInverseAffine, 1 / 255.0, 0};
  ASSERT_OK_AND_ASSIGN(Image a, MakeContactSheet(nchw, {"a", "b", "c"}, d));
  ASSERT_OK_AND_ASSIGN(Image b, MakeContactSheet(nhwc, {"a", "b", "c"}, d));
  EXPECT_EQ(a.data, b.data);
  const SheetLayout l = LayoutContactSheet(3, 8, 8);
  ASSERT_EQ(a.width, l.width);
  ASSERT_EQ(a.height, l.height);
  ASSERT_EQ(a.channels, 3);
  // Sample 2, pixel (y=5, x=3) is zoomed l.zoom times.
  const uint8_t* p = Pixel(a, l.CellX(2) + 3 * l.zoom + 1, l.CellY(2) + 5 * l.zoom + 1);
  EXPECT_THAT(std::vector<int>(p, p + 3), ElementsAre(123, 143, 163));
  // Gaps keep the background; the label strip has light text on dark.
  EXPECT_THAT(std::vector<int>(Pixel(a, 0, 0), Pixel(a, 0, 0) + 3), ElementsAre(40, 40, 40));
  int light = 0;
  for (int y = l.CellY(0) + l.tile_height; y < l.CellY(0) + l.tile_height + l.label_height; ++y) {
    for (int x = l.CellX(0); x < l.CellX(0) + l.tile_width; ++x) light += Pixel(a, x, y)[0] > 200;
  }
  EXPECT_GT(light, 10);
}

TEST(ContactSheetTest, GrayUint8TilesAreReplicatedToRgb) {
  v1::Batch batch = MakeBatch(2, 1, 4, 4, v1::LAYOUT_NHWC, v1::DTYPE_UINT8,
                              [](int s, int, int y, int x) { return s * 100 + y * 4 + x; });
  ASSERT_OK_AND_ASSIGN(Image sheet, MakeContactSheet(batch, {}, {Mode::kIdentity}));
  const SheetLayout l = LayoutContactSheet(2, 4, 4);
  const uint8_t* p = Pixel(sheet, l.CellX(1) + 2 * l.zoom, l.CellY(1) + 1 * l.zoom);
  EXPECT_THAT(std::vector<int>(p, p + 3), ElementsAre(106, 106, 106));
}

// Integers up to 256 are exact in both half types.
TEST(ContactSheetTest, HalfTilesAreConvertedToFloat) {
  for (v1::DType dtype : {v1::DTYPE_FLOAT16, v1::DTYPE_BFLOAT16}) {
    v1::Batch batch = MakeBatch(2, 3, 4, 4, v1::LAYOUT_NCHW, dtype,
                                [](int s, int c, int y, int x) { return s * 100 + c * 20 + y * 4 + x; });
    ASSERT_OK_AND_ASSIGN(Image sheet, MakeContactSheet(batch, {}, {Mode::kIdentity}));
    const SheetLayout l = LayoutContactSheet(2, 4, 4);
    const uint8_t* p = Pixel(sheet, l.CellX(1) + 2 * l.zoom, l.CellY(1) + 1 * l.zoom);
    EXPECT_THAT(std::vector<int>(p, p + 3), ElementsAre(106, 126, 146)) << dtype;
  }
}

TEST(ContactSheetTest, StretchUsesEachTilesOwnRange) {
  v1::Batch batch = MakeBatch(2, 1, 1, 2, v1::LAYOUT_NCHW, v1::DTYPE_FLOAT32,
                              [](int s, int, int, int x) { return (s + 1) * (x ? 1.0 : -1.0); });
  ASSERT_OK_AND_ASSIGN(Image sheet, MakeContactSheet(batch, {}, {Mode::kStretch}));
  const SheetLayout l = LayoutContactSheet(2, 2, 1);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Pixel(sheet, l.CellX(i), l.CellY(i))[0], 0);
    EXPECT_EQ(Pixel(sheet, l.CellX(i) + l.zoom, l.CellY(i))[0], 255);
  }
}

TEST(ContactSheetTest, MaxTilesLimitsTheSheet) {
  v1::Batch batch = MakeBatch(5, 1, 2, 2, v1::LAYOUT_NCHW, v1::DTYPE_UINT8, [](int, int, int, int) { return 1; });
  ASSERT_OK_AND_ASSIGN(Image sheet, MakeContactSheet(batch, {}, {}, 0, 2));
  EXPECT_EQ(sheet.width, LayoutContactSheet(2, 2, 2).width);
  EXPECT_EQ(sheet.height, LayoutContactSheet(2, 2, 2).height);
}

TEST(ContactSheetTest, RejectsWhatItCannotShow) {
  auto zero = [](int, int, int, int) { return 0; };
  EXPECT_THAT(MakeContactSheet(MakeBatch(1, 4, 2, 2, v1::LAYOUT_NCHW, v1::DTYPE_UINT8, zero), {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "has 4 channels"));
  EXPECT_THAT(MakeContactSheet(MakeBatch(0, 3, 2, 2, v1::LAYOUT_NCHW, v1::DTYPE_UINT8, zero), {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "no pixels"));
  v1::Batch truncated = MakeBatch(1, 3, 2, 2, v1::LAYOUT_NCHW, v1::DTYPE_FLOAT32, zero);
  truncated.mutable_data()->resize(7);
  EXPECT_THAT(MakeContactSheet(truncated, {}, {}), StatusIs(absl::StatusCode::kInvalidArgument, "needs 48"));
}

}  // namespace
}  // namespace imagefeed
