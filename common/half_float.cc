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

void StoreLE16(uint16_t v, uint8_t* dst) {
  dst[0] = static_cast<uint8_t>(v);
  dst[1] = static_cast<uint8_t>(v >> 8);
}

}  // namespace

// Branch-free (selects only) so the row loop vectorizes: a branchy version
// cost ~8 ns per element on mixed data, as much as the decode's share.
uint16_t FloatToHalfBits(float f) {
  const uint32_t x = Bits(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t a = x & 0x7fffffff;
  // Normal half (2^-14 <= |f| < 65536): rebias and round 13 bits away to
  // nearest even (add just under half, plus the kept lowest bit). A carry
  // correctly bumps the exponent; from 65520 up it reaches Inf's 0x7c00.
  const uint32_t normal = (a - ((127 - 15) << 23) + 0xfff + ((a >> 13) & 1)) >> 13;
  // Subnormal half (|f| < 2^-14): adding 0.5f, whose ulp is 2^-24 (the
  // smallest subnormal), leaves |f| in units of 2^-24 in the low mantissa
  // bits, rounded to nearest even by the FPU (its default mode; nothing here
  // changes it). 0x400 (rounded up) is the smallest normal, as it should be.
  const uint32_t subnormal = Bits(FromBits(a) + 0.5f) - 0x3f000000;
  const uint32_t quiet_nan = 0x7e00 | ((a >> 13) & 0x3ff);
  uint32_t h = a < 0x38800000 ? subnormal : normal;
  h = a >= 0x47800000 ? 0x7c00 : h;
  h = a > 0x7f800000 ? quiet_nan : h;
  return static_cast<uint16_t>(sign | h);
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
