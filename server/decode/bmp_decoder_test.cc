#include "server/decode/bmp_decoder.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"

namespace imagefeed {
namespace {

using decode_test::AsBytes;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// Fixtures are written byte by byte from known pixels, following the BMP
// layout (file header, DIB header, masks/palette, bottom-up padded rows):
// the expected pixels never come from the decoder.
void Put16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v));
  s->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* s, uint32_t v) {
  Put16(s, v & 0xFFFF);
  Put16(s, v >> 16);
}

struct BmpSpec {
  uint32_t header_size = 40;
  int32_t width = 0;
  int32_t height = 0;  // negative: top-down
  int bpp = 24;
  uint32_t compression = 0;
  uint32_t colors_used = 0;
  std::vector<uint32_t> masks;  // in the V2+ header, or after a 40-byte one
  std::string palette;          // BGRX (or BGR for the 12-byte header)
};

// `rows` are in file order, each unpadded; padding is added here.
std::string MakeBmp(const BmpSpec& spec, const std::vector<std::string>& rows) {
  std::string dib;
  Put32(&dib, spec.header_size);
  if (spec.header_size == 12) {
    Put16(&dib, static_cast<uint32_t>(spec.width));
    Put16(&dib, static_cast<uint32_t>(spec.height));
    Put16(&dib, 1);
    Put16(&dib, spec.bpp);
  } else {
    Put32(&dib, static_cast<uint32_t>(spec.width));
    Put32(&dib, static_cast<uint32_t>(spec.height));
    Put16(&dib, 1);
    Put16(&dib, spec.bpp);
    Put32(&dib, spec.compression);
    Put32(&dib, 0);  // image size (may be 0 for BI_RGB)
    Put32(&dib, 2835);
    Put32(&dib, 2835);
    Put32(&dib, spec.colors_used);
    Put32(&dib, 0);
    for (uint32_t m : spec.masks) Put32(&dib, m);
    dib.resize(spec.header_size > 40 ? spec.header_size : dib.size(), '\0');
  }
  std::string pixels;
  for (const std::string& row : rows) {
    pixels += row;
    pixels.append((4 - row.size() % 4) % 4, '\0');
  }
  std::string file = "BM";
  const uint32_t offset = 14 + static_cast<uint32_t>(dib.size() + spec.palette.size());
  Put32(&file, offset + static_cast<uint32_t>(pixels.size()));
  Put32(&file, 0);
  Put32(&file, offset);
  return file + dib + spec.palette + pixels;
}

// A known RGB pattern and its 24-bit BGR rows.
uint8_t R(int x, int /*y*/) { return static_cast<uint8_t>(40 * x + 1); }
uint8_t G(int /*x*/, int y) { return static_cast<uint8_t>(70 * y + 2); }
uint8_t B(int x, int y) { return static_cast<uint8_t>(x * 7 + y * 13 + 200); }

std::vector<std::string> BgrRows(int w, int h, bool top_down) {
  std::vector<std::string> rows;
  for (int i = 0; i < h; ++i) {
    const int y = top_down ? i : h - 1 - i;
    std::string row;
    for (int x = 0; x < w; ++x) row += {static_cast<char>(B(x, y)), static_cast<char>(G(x, y)), static_cast<char>(R(x, y))};
    rows.push_back(row);
  }
  return rows;
}

void ExpectPattern(const Image& image, int w, int h) {
  ASSERT_EQ(image.width, w);
  ASSERT_EQ(image.height, h);
  ASSERT_EQ(image.channels, 3);
  ASSERT_EQ(image.bit_depth, 8);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = image.row(y) + 3 * x;
      ASSERT_EQ(p[0], R(x, y)) << x << "," << y;
      ASSERT_EQ(p[1], G(x, y)) << x << "," << y;
      ASSERT_EQ(p[2], B(x, y)) << x << "," << y;
    }
  }
}

absl::StatusOr<Image> Decode(const std::string& file) { return decode_test::DecodeToImage(DecodeBmp, file); }

TEST(BmpDecoderTest, Decodes24BitBottomUpAndTopDown) {
  for (bool top_down : {false, true}) {
    BmpSpec spec;
    spec.width = 5;  // 15-byte rows: 1 byte of padding
    spec.height = top_down ? -3 : 3;
    const std::string file = MakeBmp(spec, BgrRows(5, 3, top_down));
    ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekBmp(AsBytes(file), {}));
    EXPECT_EQ(header.format, ImageFormat::kBmp);
    EXPECT_EQ(header.width, 5);
    EXPECT_EQ(header.height, 3);
    EXPECT_EQ(header.channels, 3);
    EXPECT_EQ(header.bit_depth, 8);
    EXPECT_EQ(header.decoder_scratch_bytes, 0u);
    ASSERT_OK_AND_ASSIGN(Image image, Decode(file));
    ExpectPattern(image, 5, 3);
    EXPECT_EQ(image.size_bytes(), header.decoded_bytes());
  }
}

TEST(BmpDecoderTest, DecodesTheOs2CoreHeader) {
  BmpSpec spec;
  spec.header_size = 12;
  spec.width = 3;
  spec.height = 2;
  ASSERT_OK_AND_ASSIGN(Image image, Decode(MakeBmp(spec, BgrRows(3, 2, false))));
  ExpectPattern(image, 3, 2);
  // 8-bit palette of 3-byte BGR entries.
  spec.bpp = 8;
  spec.palette = std::string("\x01\x02\x03\x04\x05\x06", 6) + std::string(3 * 254, '\0');
  ASSERT_OK_AND_ASSIGN(Image pal, Decode(MakeBmp(spec, {std::string("\x00\x01\x00", 3), std::string("\x01\x01\x00", 3)})));
  EXPECT_EQ(std::vector<uint8_t>(pal.data.begin(), pal.data.end()),
            (std::vector<uint8_t>{6, 5, 4, 6, 5, 4, 3, 2, 1, 3, 2, 1, 6, 5, 4, 3, 2, 1}));
}

TEST(BmpDecoderTest, Decodes8Bit4BitAnd1BitPalettes) {
  // Palette (BGRX): 0 -> (10,20,30), 1 -> (40,50,60), 2 -> (70,80,90) as RGB.
  const std::string palette("\x1e\x14\x0a\x00\x3c\x32\x28\x00\x5a\x50\x46\x00", 12);
  BmpSpec spec;
  spec.bpp = 8;
  spec.width = 4;
  spec.height = -1;
  spec.colors_used = 3;
  spec.palette = palette;
  // Index 200 is past the 3-entry palette: black.
  ASSERT_OK_AND_ASSIGN(Image p8, Decode(MakeBmp(spec, {std::string("\x02\x00\xc8\x01", 4)})));
  EXPECT_EQ(std::vector<uint8_t>(p8.data.begin(), p8.data.end()),
            (std::vector<uint8_t>{70, 80, 90, 10, 20, 30, 0, 0, 0, 40, 50, 60}));

  spec.bpp = 4;
  spec.width = 3;  // high nibble first
  ASSERT_OK_AND_ASSIGN(Image p4, Decode(MakeBmp(spec, {std::string("\x21\x00", 2)})));
  EXPECT_EQ(std::vector<uint8_t>(p4.data.begin(), p4.data.end()),
            (std::vector<uint8_t>{70, 80, 90, 40, 50, 60, 10, 20, 30}));

  spec.bpp = 1;
  spec.width = 10;  // most significant bit first: 1011 0000 11
  spec.colors_used = 2;
  ASSERT_OK_AND_ASSIGN(Image p1, Decode(MakeBmp(spec, {std::string("\xb0\xc0", 2)})));
  const std::vector<int> bits = {1, 0, 1, 1, 0, 0, 0, 0, 1, 1};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(p1.data[3 * x], bits[x] ? 40 : 10) << x;
}

TEST(BmpDecoderTest, Decodes32BitRgbAndBitfields) {
  BmpSpec spec;
  spec.bpp = 32;
  spec.width = 2;
  spec.height = 1;
  // BI_RGB: B, G, R, X.
  ASSERT_OK_AND_ASSIGN(Image rgb, Decode(MakeBmp(spec, {std::string("\x03\x02\x01\xff\x06\x05\x04\x00", 8)})));
  EXPECT_EQ(std::vector<uint8_t>(rgb.data.begin(), rgb.data.end()), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  // BI_BITFIELDS in a V5 header, bytes in R, G, B, A order.
  spec.header_size = 124;
  spec.compression = 3;
  spec.masks = {0x000000FF, 0x0000FF00, 0x00FF0000, 0xFF000000};
  ASSERT_OK_AND_ASSIGN(Image v5, Decode(MakeBmp(spec, {std::string("\x01\x02\x03\x80\x04\x05\x06\x80", 8)})));
  EXPECT_EQ(std::vector<uint8_t>(v5.data.begin(), v5.data.end()), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

TEST(BmpDecoderTest, Decodes16BitFieldsScaledToEightBits) {
  BmpSpec spec;
  spec.bpp = 16;
  spec.width = 3;
  spec.height = 1;
  spec.compression = 3;
  spec.masks = {0xF800, 0x07E0, 0x001F};  // 5-6-5, after the 40-byte header
  // Pixels (r5, g6, b5): (31, 63, 31), (16, 32, 0), (1, 1, 1).
  // Hand-computed round(v * 255 / max): 16/31 -> 132, 32/63 -> 130, 1/31 -> 8, 1/63 -> 4.
  std::string row;
  for (uint32_t v : {0xFFFFu, (16u << 11) | (32u << 5), (1u << 11) | (1u << 5) | 1u}) Put16(&row, v);
  ASSERT_OK_AND_ASSIGN(Image image, Decode(MakeBmp(spec, {row})));
  EXPECT_EQ(std::vector<uint8_t>(image.data.begin(), image.data.end()),
            (std::vector<uint8_t>{255, 255, 255, 132, 130, 0, 8, 4, 8}));
  // BI_RGB 16-bit is 5-5-5.
  spec.compression = 0;
  spec.masks.clear();
  row.clear();
  Put16(&row, (31u << 10) | (16u << 5) | 1u);
  spec.width = 1;
  ASSERT_OK_AND_ASSIGN(Image rgb555, Decode(MakeBmp(spec, {row})));
  EXPECT_EQ(std::vector<uint8_t>(rgb555.data.begin(), rgb555.data.end()), (std::vector<uint8_t>{255, 132, 8}));
}

TEST(BmpDecoderTest, RefusesRleAndOtherUnsupportedLayouts) {
  BmpSpec spec;
  spec.width = 2;
  spec.height = 2;
  spec.bpp = 8;
  spec.compression = 1;
  spec.palette = std::string(1024, '\0');
  EXPECT_THAT(Decode(MakeBmp(spec, {"ab", "cd"})).status(), StatusIs(kInvalid, "unsupported BMP compression RLE8"));
  spec.bpp = 4;
  spec.compression = 2;
  EXPECT_THAT(Decode(MakeBmp(spec, {"a", "c"})).status(), StatusIs(kInvalid, "unsupported BMP compression RLE4"));
  spec = BmpSpec();
  spec.width = 1;
  spec.height = 1;
  spec.bpp = 2;
  EXPECT_THAT(Decode(MakeBmp(spec, {"a"})).status(), StatusIs(kInvalid, "unsupported BMP bit depth 2"));
  spec.bpp = 32;
  spec.compression = 3;
  spec.masks = {0x00F0F000, 0x0000000F, 0};
  EXPECT_THAT(Decode(MakeBmp(spec, {"abcd"})).status(), StatusIs(kInvalid, "not a contiguous run of bits"));
  BmpSpec one;
  one.width = 1;
  one.height = 1;
  std::string bad_header = MakeBmp(one, {"abc"});
  bad_header[14] = 99;
  EXPECT_THAT(Decode(bad_header).status(), StatusIs(kInvalid, "unsupported BMP header size 99"));
}

TEST(BmpDecoderTest, ForgedDimensionsAreRefusedBeforeAllocation) {
  BmpSpec spec;
  spec.width = 100000;
  spec.height = -100000;
  const std::string file = MakeBmp(spec, {"abc"});  // 36 bytes of pixels
  Image image;
  EXPECT_THAT(DecodeBmp(AsBytes(file), {}, &image), StatusIs(kInvalid, "more than the cap"));
  EXPECT_EQ(image.data.capacity(), 0u);
  // Within the cap, the file must hold every row.
  spec.width = 3000;
  spec.height = 3000;
  EXPECT_THAT(DecodeBmp(AsBytes(MakeBmp(spec, {"abc"})), {}, &image), StatusIs(kInvalid, "BMP truncated"));
  EXPECT_EQ(image.data.capacity(), 0u);
  spec.width = 1;
  spec.height = INT32_MIN;
  EXPECT_THAT(DecodeBmp(AsBytes(MakeBmp(spec, {"abc"})), {}, &image), StatusIs(kInvalid, "a side exceeds"));
  spec.height = 0;
  EXPECT_THAT(DecodeBmp(AsBytes(MakeBmp(spec, {"abc"})), {}, &image), StatusIs(kInvalid, "zero width or height"));
}

TEST(BmpDecoderTest, BadOffsetsAndEveryTruncationAreErrors) {
  BmpSpec spec;
  spec.width = 5;
  spec.height = 3;
  std::string file = MakeBmp(spec, BgrRows(5, 3, false));
  std::string past_end = file;
  past_end[10] = static_cast<char>(0xF0);
  past_end[13] = 0x7F;  // offset ~2 GB
  EXPECT_THAT(Decode(past_end).status(), StatusIs(kInvalid, "BMP truncated"));
  std::string inside = file;
  inside[10] = 20;  // inside the DIB header
  EXPECT_THAT(Decode(inside).status(), StatusIs(kInvalid, "points inside its headers"));
  // The last row's padding may be missing; any shorter file is refused.
  ASSERT_OK(Decode(file.substr(0, file.size() - 1)).status());
  for (size_t n = 0; n + 1 < file.size(); ++n) {
    EXPECT_FALSE(Decode(file.substr(0, n)).ok()) << n;
    EXPECT_FALSE(PeekBmp(AsBytes(file.substr(0, n)), {}).ok()) << n;
  }
  // A palette that runs past the end of the file.
  BmpSpec pal;
  pal.bpp = 8;
  pal.width = 1;
  pal.height = 1;
  pal.palette = std::string(8, '\0');
  std::string short_palette = MakeBmp(pal, {"\x01"});
  short_palette.resize(14 + 40 + 8);
  EXPECT_THAT(Decode(short_palette).status(), StatusIs(kInvalid, "BMP truncated"));
}

}  // namespace
}  // namespace imagefeed
