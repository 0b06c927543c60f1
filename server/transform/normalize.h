#ifndef IMAGEFEED_SERVER_TRANSFORM_NORMALIZE_H_
#define IMAGEFEED_SERVER_TRANSFORM_NORMALIZE_H_

#include <array>
#include <cstdint>

#include "server/transform/resize.h"
#include "server/transform/simd_kernels.h"

namespace imagefeed {

// How sample values are mapped to output floats. Below, x is a value on the
// 8-bit scale [0, 255] and x01 = x / 255. Every division by zero yields 0
// (divide-no-nan), never NaN or Inf.
enum class NormalizeMode {
  kNone,                 // x
  kRescale,              // x * scale + offset (keras Rescaling)
  kStandardize,          // (x01 - mean_c) / std_c, dataset statistics
  kMinMax,               // (x01 - min_c) / (max_c - min_c), dataset statistics
  kL2,                   // x01 / ||x01||_2 over the whole sample
  kPerImageStandardize,  // (x - mean) / max(std, 1/sqrt(n)), tf.image.per_image_standardization
  kPerImageMinMax,       // (x - min) / (max - min) over the whole sample
};

struct NormalizeParams {
  NormalizeMode mode = NormalizeMode::kRescale;
  float scale = 1.0f / 255.0f;
  float offset = 0.0f;
  // Dataset statistics per output channel in the [0, 1] domain (kStandardize, kMinMax).
  std::array<double, 3> mean{};
  std::array<double, 3> std{};
  std::array<double, 3> min{};
  std::array<double, 3> max{};
};

enum class TensorLayout { kNCHW, kNHWC };

// The per-channel affine map of the modes that do not depend on the image
// (none, rescale, standardize, minmax): output = scale[c] * x + offset[c] in
// float32, exactly the coefficients NormalizeInto applies. False (and the
// arrays untouched) for the per-image modes (l2, per_image_*).
bool ChannelAffine(const NormalizeParams& params, std::array<float, 3>* scale, std::array<float, 3>* offset);

// Writes `src` (float HWC on the 8-bit scale, 1 or 3 channels) as one sample
// of `out_channels` (1 or 3) channels into `dst` (H*W*out_channels floats) in
// `layout`. 1 -> 3 channels replicates gray; 3 -> 1 takes ITU-R 601 luma.
// Thread-safe.
void NormalizeInto(const FloatImage& src, int out_channels, const NormalizeParams& params, TensorLayout layout,
                   float* dst);

// The same for uint8 output: values clamped to [0, 255] and rounded to
// nearest, halves away from zero (std::lround); no normalization.
void ConvertToUint8(const FloatImage& src, int out_channels, TensorLayout layout, uint8_t* dst);

// NormalizeInto for a slot of any element type (simd::SlotType; float32
// is NormalizeInto): channels, normalization, conversion and layout in one
// SIMD pass. `src` and out_channels have 1 or 3 channels.
void NormalizeIntoSlot(const FloatImage& src, int out_channels, const NormalizeParams& params, TensorLayout layout,
                       simd::SlotType type, void* dst);

// Scalar references of NormalizeInto and ConvertToUint8 (what they were
// before the SIMD kernel), which the tests compare with: results are equal
// bit for bit, since both compute scale * v + offset without FMA.
void NormalizeIntoReference(const FloatImage& src, int out_channels, const NormalizeParams& params,
                            TensorLayout layout, float* dst);
void ConvertToUint8Reference(const FloatImage& src, int out_channels, TensorLayout layout, uint8_t* dst);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_TRANSFORM_NORMALIZE_H_
