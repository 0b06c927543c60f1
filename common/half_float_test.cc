#include "common/half_float.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace imagefeed {
namespace {

float FromBits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

// Bit patterns below are written out by hand from the IEEE 754 binary16
// layout (1 sign, 5 exponent bits with bias 15, 10 mantissa bits).
TEST(FloatToHalfBits, ExactValues) {
  EXPECT_EQ(FloatToHalfBits(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalfBits(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalfBits(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalfBits(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalfBits(0.5f), 0x3800);
  EXPECT_EQ(FloatToHalfBits(255.0f), 0x5bf8);
  EXPECT_EQ(FloatToHalfBits(65504.0f), 0x7bff);        // largest finite
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1023.0f, -24)), 0x03ff);  // largest subnormal
}

TEST(FloatToHalfBits, OverflowAndSpecials) {
  EXPECT_EQ(FloatToHalfBits(65519.0f), 0x7bff);  // below the halfway point 65520
  EXPECT_EQ(FloatToHalfBits(65520.0f), 0x7c00);  // the tie rounds to even: Inf
  EXPECT_EQ(FloatToHalfBits(-65520.0f), 0xfc00);
  EXPECT_EQ(FloatToHalfBits(1e10f), 0x7c00);
  EXPECT_EQ(FloatToHalfBits(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalfBits(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalfBits(FromBits(0x7fc00000)), 0x7e00);  // the default quiet NaN
  EXPECT_EQ(FloatToHalfBits(FromBits(0xffc00000)), 0xfe00);
  EXPECT_EQ(FloatToHalfBits(FromBits(0x7f800001)), 0x7e00);  // a signalling NaN stays a NaN (quiet)
}

TEST(FloatToHalfBits, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01).
  EXPECT_EQ(FloatToHalfBits(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between 0x3c01 (odd) and 0x3c02 (even).
  EXPECT_EQ(FloatToHalfBits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Just above the halfway point rounds up.
  EXPECT_EQ(FloatToHalfBits(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -23)), 0x3c01);
  // 2047.5 .. 2048: mantissa carry into the exponent (2047 = 0x67ff, 2048 = 0x6800).
  EXPECT_EQ(FloatToHalfBits(2047.5f), 0x6800);
  // 0.1 = 0x3dcccccd rounds to 0x2e66 (0.0999755859375).
  EXPECT_EQ(FloatToHalfBits(0.1f), 0x2e66);
}

TEST(FloatToHalfBits, Subnormals) {
  const float tiny = std::ldexp(1.0f, -24);
  EXPECT_EQ(FloatToHalfBits(0.5f * tiny), 0x0000);   // a tie with 0 (even)
  EXPECT_EQ(FloatToHalfBits(0.75f * tiny), 0x0001);  // above the tie
  EXPECT_EQ(FloatToHalfBits(1.5f * tiny), 0x0002);   // a tie between 1 and 2: to 2 (even)
  EXPECT_EQ(FloatToHalfBits(2.5f * tiny), 0x0002);   // a tie between 2 and 3: to 2 (even)
  EXPECT_EQ(FloatToHalfBits(-3.0f * tiny), 0x8003);
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(FloatToHalfBits(FromBits(0x00000001)), 0x0000);  // a float subnormal
  // 1023.5 * 2^-24 rounds (tie, 1023 odd) up to the smallest normal.
  EXPECT_EQ(FloatToHalfBits(1023.5f * tiny), 0x0400);
}

TEST(HalfBitsToFloat, InvertsEveryFiniteHalf) {
  EXPECT_EQ(HalfBitsToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfBitsToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfBitsToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfBitsToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfBitsToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfBitsToFloat(0x7e00)));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // Inf and NaN
    ASSERT_EQ(FloatToHalfBits(HalfBitsToFloat(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

// Every pair of neighbouring finite halves (positive and negative): the exact
// midpoint rounds to the even one, a float ulp either side to the nearer one.
TEST(FloatToHalfBits, EveryMidpointRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    for (uint32_t s : {0u, 0x8000u}) {
      const float lo = HalfBitsToFloat(static_cast<uint16_t>(s | h));
      const float hi = HalfBitsToFloat(static_cast<uint16_t>(s | (h + 1)));
      const float mid = (lo + hi) / 2;  // exact: a float has 13 more mantissa bits
      const uint32_t even = (h & 1) ? h + 1 : h;
      ASSERT_EQ(FloatToHalfBits(mid), s | even) << std::hex << h;
      ASSERT_EQ(FloatToHalfBits(std::nextafter(mid, lo)), s | h) << std::hex << h;
      ASSERT_EQ(FloatToHalfBits(std::nextafter(mid, hi)), s | (h + 1)) << std::hex << h;
    }
  }
}

TEST(FloatToBFloat16Bits, HandComputed) {
  EXPECT_EQ(FloatToBFloat16Bits(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16Bits(-2.0f), 0xc000);
  EXPECT_EQ(FloatToBFloat16Bits(255.0f), 0x437f);
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3f808000)), 0x3f80);  // tie, 0x3f80 even: down
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3f818000)), 0x3f82);  // tie, 0x3f81 odd: up
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3f808001)), 0x3f81);  // above the tie: up
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3f807fff)), 0x3f80);  // below the tie: down
  EXPECT_EQ(FloatToBFloat16Bits(0.1f), 0x3dcd);                  // 0x3dcccccd
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x7f7fffff)), 0x7f80);  // FLT_MAX rounds to Inf
  EXPECT_EQ(FloatToBFloat16Bits(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x7fc00000)), 0x7fc0);
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x7f800001)), 0x7fc0);  // a NaN must not round to Inf
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x00018000)), 0x0002);  // subnormal tie: up to even
  EXPECT_EQ(BFloat16BitsToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16BitsToFloat(0xc000), -2.0f);
}

TEST(StoreHalf, WritesLittleEndianRows) {
  const float src[3] = {1.0f, -2.0f, 65520.0f};
  uint8_t dst[7] = {0, 0, 0, 0, 0, 0, 0xAA};
  StoreF16(src, 3, dst);
  const uint8_t want_f16[7] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c, 0xAA};
  EXPECT_EQ(std::memcmp(dst, want_f16, 7), 0);
  StoreBF16(src, 3, dst);
  // 65520 = 0x477ff000 -> 0x4780 (the dropped half 0xf000 is above the tie).
  const uint8_t want_bf16[7] = {0x80, 0x3f, 0x00, 0xc0, 0x80, 0x47, 0xAA};
  EXPECT_EQ(std::memcmp(dst, want_bf16, 7), 0);
}

}  // namespace
}  // namespace imagefeed
