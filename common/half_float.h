#ifndef IMAGEFEED_COMMON_HALF_FLOAT_H_
#define IMAGEFEED_COMMON_HALF_FLOAT_H_

#include <cstddef>
#include <cstdint>

namespace imagefeed {

// IEEE 754 binary16 (float16) and bfloat16 (the high half of a float32)
// conversions with round-to-nearest-even, in integer arithmetic plus one
// float add for float16 subnormals (correct in the FPU's default rounding
// mode); no F16C: the build targets x86-64. Branch-free, so rows vectorize.
// float16: values from 65520 up become Inf (65504 is the largest finite),
// values below 2^-14 become subnormals (smallest 2^-24), NaN stays a quiet
// NaN with the sign and the payload's high bits (as numpy's astype does).
// bfloat16: NaN becomes a quiet NaN (the float32's high bits | 0x0040).
// All functions are pure and thread-safe.
uint16_t FloatToHalfBits(float f);
float HalfBitsToFloat(uint16_t h);
uint16_t FloatToBFloat16Bits(float f);
float BFloat16BitsToFloat(uint16_t b);

// Row converters for writing a batch slot: `n` floats to `n` little-endian
// 16-bit values at `dst` (any alignment).
void StoreF16(const float* src, size_t n, uint8_t* dst);
void StoreBF16(const float* src, size_t n, uint8_t* dst);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_HALF_FLOAT_H_
