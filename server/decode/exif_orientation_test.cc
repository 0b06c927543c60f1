#include "server/decode/exif_orientation.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"

namespace imagefeed {
namespace {

using decode_test::AsBytes;
using decode_test::MakeExifPayload;
using decode_test::ReferenceOrient;
using decode_test::SameImage;

// Size of MakeExifPayload's output up to the end of the Orientation entry.
constexpr size_t kBytesThroughOrientationEntry = 6 + 8 + 2 + 2 * 12;

TEST(ParseExifOrientationTest, ReadsEveryValueInBothByteOrders) {
  for (bool big_endian : {true, false}) {
    for (int orientation = 1; orientation <= 8; ++orientation) {
      EXPECT_EQ(ParseExifOrientation(AsBytes(MakeExifPayload(orientation, big_endian))),
                orientation)
          << "big_endian=" << big_endian;
    }
  }
}

TEST(ParseExifOrientationTest, OutOfRangeValuesMeanUpright) {
  for (int value : {0, 9, 255, 0xFFFF}) {
    EXPECT_EQ(ParseExifOrientation(AsBytes(MakeExifPayload(value, true))), 1) << value;
  }
}

TEST(ParseExifOrientationTest, MissingTagMeansUpright) {
  std::string payload = MakeExifPayload(6, true);
  payload[6 + 8 + 2 + 12 + 1] = 0x13;  // Orientation tag 0x0112 -> 0x0113
  EXPECT_EQ(ParseExifOrientation(AsBytes(payload)), 1);
}

TEST(ParseExifOrientationTest, WrongTypeMeansUpright) {
  std::string payload = MakeExifPayload(6, true);
  payload[6 + 8 + 2 + 12 + 3] = 4;  // SHORT -> LONG
  EXPECT_EQ(ParseExifOrientation(AsBytes(payload)), 1);
}

TEST(ParseExifOrientationTest, TruncatedBlocksMeanUprightNeverOutOfBounds) {
  const std::string payload = MakeExifPayload(6, false);
  for (size_t n = 0; n <= payload.size(); ++n) {
    // A heap copy of exactly n bytes, so AddressSanitizer sees any overread.
    std::vector<uint8_t> prefix(payload.begin(), payload.begin() + n);
    const int expected = n >= kBytesThroughOrientationEntry ? 6 : 1;
    EXPECT_EQ(ParseExifOrientation(prefix), expected) << "first " << n << " bytes";
  }
}

TEST(ParseExifOrientationTest, MalformedHeadersMeanUpright) {
  const std::string good = MakeExifPayload(3, true);
  auto with = [&](size_t pos, std::string bytes) {
    std::string s = good;
    s.replace(pos, bytes.size(), bytes);
    return s;
  };
  EXPECT_EQ(ParseExifOrientation(AsBytes(good)), 3);
  EXPECT_EQ(ParseExifOrientation(AsBytes(with(0, "Exib"))), 1);                    // not Exif
  EXPECT_EQ(ParseExifOrientation(AsBytes(with(6, "MI"))), 1);                      // byte order
  EXPECT_EQ(ParseExifOrientation(AsBytes(with(8, std::string("\0\x2B", 2)))), 1);  // magic 43
  EXPECT_EQ(ParseExifOrientation(AsBytes(with(10, "\xFF\xFF\xFF\xFF"))), 1);       // IFD0 far away
  EXPECT_EQ(ParseExifOrientation(AsBytes(with(10, std::string("\0\0\0\x04", 4)))), 1);  // inside header
  EXPECT_EQ(ParseExifOrientation(AsBytes(with(10, std::string("\0\0\0\x2A", 4)))), 1);  // at the end
  std::string endless = with(14, "\xFF\xFF");  // 65535 entries claimed, none of them Orientation
  endless[6 + 8 + 2 + 12 + 1] = 0x13;
  EXPECT_EQ(ParseExifOrientation(AsBytes(endless)), 1);
}

TEST(ParseExifOrientationTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string good = MakeExifPayload(8, true);
  int still_found = 0;
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> bytes(good.begin(), good.end());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[6 + rng() % (bytes.size() - 6)] = rng() & 0xFF;
    const int orientation = ParseExifOrientation(bytes);
    ASSERT_GE(orientation, 1);
    ASSERT_LE(orientation, 8);
    still_found += orientation == 8;
  }
  EXPECT_GT(still_found, 0);  // damage outside the path to the tag is harmless
}

Image Numbered3x2() {
  Image image;
  image.Reset(3, 2, 1, 8);
  for (int i = 0; i < 6; ++i) image.data[i] = static_cast<uint8_t>(i + 1);
  return image;
}

TEST(ApplyOrientationTest, MatchesHandWrittenResults) {
  // Source:  1 2 3
  //          4 5 6
  const std::vector<std::vector<uint8_t>> expected = {
      {},
      {1, 2, 3, 4, 5, 6},  // 1 upright
      {3, 2, 1, 6, 5, 4},  // 2 mirror horizontal
      {6, 5, 4, 3, 2, 1},  // 3 rotate 180
      {4, 5, 6, 1, 2, 3},  // 4 mirror vertical
      {1, 4, 2, 5, 3, 6},  // 5 transpose (2 wide, 3 high)
      {4, 1, 5, 2, 6, 3},  // 6 rotate 90 CW
      {6, 3, 5, 2, 4, 1},  // 7 transverse
      {3, 6, 2, 5, 1, 4},  // 8 rotate 270 CW
  };
  const Image src = Numbered3x2();
  for (int orientation = 1; orientation <= 8; ++orientation) {
    Image dst;
    ApplyOrientation(src, orientation, &dst);
    EXPECT_EQ(dst.width, orientation >= 5 ? 2 : 3) << orientation;
    EXPECT_EQ(dst.height, orientation >= 5 ? 3 : 2) << orientation;
    EXPECT_EQ(dst.data, expected[orientation]) << "orientation " << orientation;
  }
}

TEST(ApplyOrientationTest, InvalidOrientationCopies) {
  const Image src = Numbered3x2();
  for (int orientation : {0, 9, -1}) {
    Image dst;
    ApplyOrientation(src, orientation, &dst);
    EXPECT_TRUE(SameImage(dst, src)) << orientation;
  }
}

struct Layout {
  int channels;
  int bit_depth;
};

class ApplyOrientationLayoutTest : public ::testing::TestWithParam<Layout> {};

TEST_P(ApplyOrientationLayoutTest, MatchesReferenceBeyondOneTile) {
  // 131x70 crosses the 64-pixel tiles in both directions, with ragged edges.
  const Image src = MakeGradientImage(131, 70, GetParam().channels, GetParam().bit_depth);
  Image dst;
  dst.data.reserve(src.size_bytes() * 2);  // reused capacity must not leak into the result
  for (int orientation = 1; orientation <= 8; ++orientation) {
    ApplyOrientation(src, orientation, &dst);
    EXPECT_TRUE(SameImage(dst, ReferenceOrient(src, orientation))) << "orientation " << orientation;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ApplyOrientationLayoutTest,
                         ::testing::Values(Layout{1, 8}, Layout{3, 8}, Layout{1, 16},
                                           Layout{3, 16}, Layout{2, 8}, Layout{4, 16}));

}  // namespace
}  // namespace imagefeed
