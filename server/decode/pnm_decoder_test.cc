#include "server/decode/pnm_decoder.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"

namespace imagefeed {
namespace {

using decode_test::AsBytes;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// Fixtures are Netpbm text headers plus raw bytes written here; expected
// samples are the bytes written (or hand-computed scalings of them).
absl::StatusOr<Image> Decode(const std::string& file) { return decode_test::DecodeToImage(DecodePnm, file); }

std::vector<uint8_t> Samples(const Image& image) { return {image.data.begin(), image.data.end()}; }

std::vector<uint16_t> Samples16(const Image& image) {
  std::vector<uint16_t> out(image.data.size() / 2);
  std::memcpy(out.data(), image.data.data(), image.data.size());
  return out;
}

TEST(PnmDecoderTest, DecodesBinaryPpmAndPgm) {
  const std::string ppm = std::string("P6\n# a comment\n2 1\n255\n") + "\x01\x02\x03\xfd\xfe\xff";
  ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekPnm(AsBytes(ppm), {}));
  EXPECT_EQ(header.format, ImageFormat::kPnm);
  EXPECT_EQ(header.width, 2);
  EXPECT_EQ(header.height, 1);
  EXPECT_EQ(header.channels, 3);
  EXPECT_EQ(header.bit_depth, 8);
  EXPECT_EQ(header.decoder_scratch_bytes, 0u);
  ASSERT_OK_AND_ASSIGN(Image rgb, Decode(ppm));
  EXPECT_EQ(rgb.channels, 3);
  EXPECT_EQ(Samples(rgb), (std::vector<uint8_t>{1, 2, 3, 253, 254, 255}));
  EXPECT_EQ(rgb.size_bytes(), header.decoded_bytes());

  ASSERT_OK_AND_ASSIGN(Image gray, Decode(std::string("P5 3 2 255 ") + "abcdef"));
  EXPECT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.width, 3);
  EXPECT_EQ(gray.height, 2);
  EXPECT_EQ(Samples(gray), (std::vector<uint8_t>{'a', 'b', 'c', 'd', 'e', 'f'}));
}

TEST(PnmDecoderTest, ScalesMaxvalToTheOutputRange) {
  // maxval 100: round(v * 255 / 100) by hand: 0 -> 0, 50 -> 128, 99 -> 252, 100 -> 255; 200 is clamped.
  ASSERT_OK_AND_ASSIGN(Image small, Decode(std::string("P5 5 1 100\n") + std::string("\x00\x32\x63\x64\xc8", 5)));
  EXPECT_EQ(Samples(small), (std::vector<uint8_t>{0, 128, 252, 255, 255}));
}

TEST(PnmDecoderTest, DecodesSixteenBitBigEndianSamples) {
  ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekPnm(AsBytes(std::string("P5 2 1 65535\n") + "\x12\x34\xfe\xdc"), {}));
  EXPECT_EQ(header.bit_depth, 16);
  EXPECT_EQ(header.channels, 1);
  ASSERT_OK_AND_ASSIGN(Image full, Decode(std::string("P5 2 1 65535\n") + "\x12\x34\xfe\xdc"));
  EXPECT_EQ(full.bit_depth, 16);
  EXPECT_EQ(Samples16(full), (std::vector<uint16_t>{0x1234, 0xfedc}));
  // maxval 1000: round(500 * 65535 / 1000) = 32768 (32767.5 rounds up), 1000 -> 65535.
  ASSERT_OK_AND_ASSIGN(Image scaled, Decode(std::string("P6 1 1 1000\n") + std::string("\x01\xf4\x03\xe8\x00\x00", 6)));
  EXPECT_EQ(scaled.channels, 3);
  EXPECT_EQ(Samples16(scaled), (std::vector<uint16_t>{32768, 65535, 0}));
}

TEST(PnmDecoderTest, DecodesPlainText) {
  ASSERT_OK_AND_ASSIGN(Image p3, Decode("P3\n# plain\n2 1\n255\n1 2 3\n# mid\n  250 251\t252\n"));
  EXPECT_EQ(Samples(p3), (std::vector<uint8_t>{1, 2, 3, 250, 251, 252}));
  ASSERT_OK_AND_ASSIGN(Image p2, Decode("P2 2 2 15 0 15 5 10"));  // round(v * 255 / 15)
  EXPECT_EQ(Samples(p2), (std::vector<uint8_t>{0, 255, 85, 170}));
  EXPECT_THAT(Decode("P2 2 2 15 0 15 5 x").status(), StatusIs(kInvalid, "sample 3 of 4 is missing"));
}

TEST(PnmDecoderTest, RefusesUnsupportedTypesAndBadHeaders) {
  EXPECT_THAT(Decode("P4 8 1\n\xff").status(), StatusIs(kInvalid, "unsupported PNM type P4 (PBM bitmap)"));
  EXPECT_THAT(Decode("P1 1 1 1").status(), StatusIs(kInvalid, "unsupported PNM type P1"));
  EXPECT_THAT(Decode("P7\nWIDTH 1\n").status(), StatusIs(kInvalid, "unsupported PNM type P7 (PAM)"));
  EXPECT_THAT(Decode("P6 x 1 255 abc").status(), StatusIs(kInvalid, "width and height"));
  EXPECT_THAT(Decode("P6 1 1 0 abc").status(), StatusIs(kInvalid, "maxval must be"));
  EXPECT_THAT(Decode("P6 1 1 65536 abcdef").status(), StatusIs(kInvalid, "maxval must be"));
  EXPECT_THAT(Decode("P6 1 1 255").status(), StatusIs(kInvalid, "no whitespace after maxval"));
  EXPECT_THAT(Decode("P6 1 0 255 ").status(), StatusIs(kInvalid, "zero width or height"));
}

TEST(PnmDecoderTest, ForgedDimensionsAndTruncationAreRefusedBeforeAllocation) {
  Image image;
  EXPECT_THAT(DecodePnm(AsBytes("P6 100000 100000 255\nabc"), {}, &image), StatusIs(kInvalid, "more than the cap"));
  EXPECT_THAT(DecodePnm(AsBytes("P6 4000000000 1 255\nabc"), {}, &image), StatusIs(kInvalid, "a side exceeds"));
  EXPECT_THAT(DecodePnm(AsBytes("P6 99999999999 1 255\nabc"), {}, &image), StatusIs(kInvalid, "width and height"));
  EXPECT_THAT(DecodePnm(AsBytes("P6 3000 3000 255\nabc"), {}, &image), StatusIs(kInvalid, "PNM truncated"));
  EXPECT_THAT(DecodePnm(AsBytes("P3 3000 3000 255\n1 2 3"), {}, &image), StatusIs(kInvalid, "PNM truncated"));
  EXPECT_EQ(image.data.capacity(), 0u);
  const std::string file = std::string("P6 2 2 65535\n") + std::string(24, '\x7f');
  ASSERT_OK(Decode(file).status());
  ASSERT_OK(Decode(file + "P6 1 1 255\nabc").status());  // a second image is ignored
  for (size_t n = 0; n < file.size(); ++n) EXPECT_FALSE(Decode(file.substr(0, n)).ok()) << n;
}

}  // namespace
}  // namespace imagefeed
