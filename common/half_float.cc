#include "common/half_float.h"

#include <cstring>

namespace imagefeed {
namespace {

uint32_t Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  return x;
}

float FromBits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

// `v` >> `shift` (1..31) rounded to nearest, ties to even.
uint32_t ShiftRoundEven(uint32_t v, int shift) {
  const uint32_t q = v >> shift;
  const uint32_t rem = v & ((uint32_t{1} << shift) - 1);
  const uint32_t half = uint32_t{1} << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
}

void StoreLE16(uint16_t v, uint8_t* dst) {
  dst[0] = static_cast<uint8_t>(v);
  dst[1] = static_cast<uint8_t>(v >> 8);
}

}  // namespace

uint16_t FloatToHalfBits(float f) {
  const uint32_t x = Bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t a = x & 0x7fffffff;
  if (a >= 0x7f800000) {  // Inf, or NaN made quiet
    return sign | (a == 0x7f800000 ? 0x7c00 : static_cast<uint16_t>(0x7e00 | ((a >> 13) & 0x3ff)));
  }
  if (a >= 0x477ff000) return sign | 0x7c00;  // >= 65520 (a tie with an odd 65504) rounds up to Inf
  if (a >= 0x38800000) {                      // normal half (>= 2^-14): rebias, then round 13 bits away
    // A carry out of the mantissa correctly increments the exponent.
    return sign | static_cast<uint16_t>(ShiftRoundEven(a - ((127 - 15) << 23), 13));
  }
  // Subnormal half (or zero): the value in units of 2^-24 is mant * 2^(e - 126).
  const int e = static_cast<int>(a >> 23);
  if (e < 102) return sign;  // below 2^-25 (including float subnormals): rounds to 0
  const uint32_t mant = (a & 0x7fffff) | 0x800000;
  return sign | static_cast<uint16_t>(ShiftRoundEven(mant, 126 - e));  // may round up to 0x0400, the smallest normal
}

float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (e == 0x1f) return FromBits(sign | 0x7f800000 | (mant << 13));
  if (e != 0) return FromBits(sign | ((e + 127 - 15) << 23) | (mant << 13));
  if (mant == 0) return FromBits(sign);
  int shift = 0;  // normalize the subnormal: value = mant * 2^-24
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    ++shift;
  }
  return FromBits(sign | static_cast<uint32_t>((127 - 15 + 1 - shift) << 23) | ((mant & 0x3ff) << 13));
}

uint16_t FloatToBFloat16Bits(float f) {
  const uint32_t x = Bits(f);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x0040);
  // Rounding to nearest even; overflow past the largest bfloat16 lands on Inf.
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

float BFloat16BitsToFloat(uint16_t b) { return FromBits(static_cast<uint32_t>(b) << 16); }

void StoreF16(const float* src, size_t n, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i) StoreLE16(FloatToHalfBits(src[i]), dst + 2 * i);
}

void StoreBF16(const float* src, size_t n, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i) StoreLE16(FloatToBFloat16Bits(src[i]), dst + 2 * i);
}

}  // namespace imagefeed
