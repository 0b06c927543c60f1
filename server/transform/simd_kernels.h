#ifndef IMAGEFEED_SERVER_TRANSFORM_SIMD_KERNELS_H_
#define IMAGEFEED_SERVER_TRANSFORM_SIMD_KERNELS_H_

// SIMD kernels of the resize passes and the batch-slot write, compiled for
// every x86 target Highway knows (SSSE3 .. AVX-512) and chosen at run time
// (HWY_DYNAMIC_DISPATCH), so one -march=x86-64 binary uses AVX2/AVX-512
// where the CPU has them. Internal to the transform module: resize.cc and
// normalize.cc call them. Every kernel does, per output value, the same
// float operations in the same order as the scalar reference
// (ResizeRegionToFloatReference, NormalizeIntoReference,
// ConvertToUint8Reference): multiply and add are kept separate (no FMA), so
// results are bit-identical on every target. Thread-safe (no state).

#include <cstddef>
#include <cstdint>

namespace imagefeed {

// Filter taps of one output coordinate: weights[offset .. offset+count)
// weigh in[first .. first+count).
struct ResampleTap {
  int first = 0;
  int count = 0;
  int offset = 0;
};

namespace simd {

// The horizontal RGB kernel sums this many rows at once (4 vectors of 2
// rows of 4 floats on AVX2 and AVX-512), after converting each row to float
// once; the scratch it needs is bounded by these.
inline constexpr int kMaxGroupRows = 8;
// Rows wider than this take the scalar reference path (keeps the per-thread
// row scratch below kMaxGroupRows * kMaxRowWidth * 12 bytes = 1.5 MiB).
inline constexpr int kMaxRowWidth = 16384;
// Floats of the scratch HorizontalPass3 needs for rows of `width` pixels.
inline size_t HorizontalScratchFloats(int width) { return static_cast<size_t>(kMaxGroupRows) * (3 * width + 1); }

// dst[k] = src[k] for k < n, as float (exact).
void ConvertToFloat(const uint8_t* src, size_t n, float* dst);
void ConvertToFloat(const uint16_t* src, size_t n, float* dst);

// One vertical-pass output row: dst[k] = sum over i < taps of
// w[i] * src[(first + i) * stride + k], for k < n, summed in tap order.
void WeightedRowSum(const float* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst);
void WeightedRowSum(const uint8_t* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst);
void WeightedRowSum(const uint16_t* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst);

// Horizontal pass over `rows` rows of 3-channel pixels (in_w wide, rows
// `src_stride` samples apart): output pixel o of each row is
// inv * sum_j weights[t.offset + j] * in[t.first + j] with t = taps[o], written
// to column (flip ? out_w - 1 - o : o) of dst (packed rows of out_w * 3).
// in_w <= kMaxRowWidth; `scratch` holds HorizontalScratchFloats(in_w) floats.
// A float `src` is read in place, and one float after the last pixel of
// each row must be readable (its value is ignored).
void HorizontalPass3(const uint8_t* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                     const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst);
void HorizontalPass3(const uint16_t* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                     const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst);
void HorizontalPass3(const float* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                     const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst);

// Element types of a batch slot. WriteSlot has one store step per type;
// another type is one more step there.
enum class SlotType { kFloat32, kUint8 };

// One sample into its batch slot, in one pass: reads `pixels` HWC pixels of
// src_channels (1 or 3) floats, maps them to out_channels (1 or 3: gray is
// replicated, RGB reduced to ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B),
// applies v * scale[c] + offset[c], and stores them as `type` (kUint8:
// clamped to [0, 255], rounded half away from zero like std::lround) in
// planar (planar = true, NCHW) or interleaved (NHWC) order.
struct SlotWrite {
  int src_channels = 3;
  int out_channels = 3;
  float scale[3] = {1, 1, 1};
  float offset[3] = {0, 0, 0};
  SlotType type = SlotType::kFloat32;
  bool planar = true;
};
void WriteSlot(const float* src, size_t pixels, const SlotWrite& how, void* dst);

// The horizontal pass and colour conversion of a strip of n <= kYccStripRows
// rows of a YCbCr image's planes after their vertical pass: plane p's rows
// are rows[p] + r * widths[p] (r < n). Output pixel o of row r, written to
// column (flip ? out_w - 1 - o : o) of dst's row r (HWC, rows of out_w * 3
// floats), is JFIF's RGB of the planes' sums sum_j weights[p][t.offset + j]
// * row[t.first + j] (t = taps[p][o], in tap order), clamped to [0, 255]:
// R = Y + 1.402 Cr', G = Y - 0.344136 Cb' - 0.714136 Cr', B = Y + 1.772 Cb'
// with Cb' = Cb - 128, Cr' = Cr - 128. `scratch` holds
// YccStripScratchFloats(widths, out_w) floats.
inline constexpr int kYccStripRows = 8;
inline size_t YccStripScratchFloats(const int* widths, int out_w) {
  return static_cast<size_t>(kYccStripRows) * (static_cast<size_t>(widths[0]) + widths[1] + widths[2] + 3 * out_w);
}
void YccStripToRgb(const float* const* rows, const int* widths, int n, const ResampleTap* const* taps,
                   const float* const* weights, int out_w, bool flip, float* scratch, float* dst);

// Name of the target the kernels dispatch to now ("AVX3", "AVX2", ...).
const char* DispatchedTargetName();

}  // namespace simd
}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_TRANSFORM_SIMD_KERNELS_H_
