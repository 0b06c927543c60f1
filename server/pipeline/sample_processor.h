#ifndef IMAGEFEED_SERVER_PIPELINE_SAMPLE_PROCESSOR_H_
#define IMAGEFEED_SERVER_PIPELINE_SAMPLE_PROCESSOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "server/decode/image_decoder.h"
#include "server/runtime/metrics.h"
#include "server/transform/augment.h"
#include "server/transform/normalize.h"
#include "server/transform/resize.h"

namespace imagefeed {

// The element type of a batch. kUint8 carries rounded raw values (the
// normalization travels as input_scale/input_offset); the half types carry
// the normalized float32 values rounded to nearest even.
enum class OutputDType { kFloat32, kUint8, kFloat16, kBFloat16 };

// Bytes per element of `dtype`: 4, 1, 2, 2.
size_t ElementBytes(OutputDType dtype);

// "float32", "uint8", "float16", "bfloat16".
const char* OutputDTypeName(OutputDType dtype);

// What happens to every sample of a stream, from file bytes to tensor slot.
struct SampleTransform {
  int out_height = 0;  // 0 with out_width 0: each image's own size
  int out_width = 0;
  int out_channels = 3;
  NormalizeParams normalize;
  TensorLayout layout = TensorLayout::kNCHW;
  OutputDType dtype = OutputDType::kFloat32;
  DecodeOptions decode;
  AugmentOptions augment;
  // Augmentation randomness is drawn from (seed, epoch, sample id).
  uint64_t seed = 0;
  uint64_t epoch = 0;

  size_t element_bytes() const { return ElementBytes(dtype); }
  // Bytes of one output sample of `h` x `w`.
  size_t SampleBytes(int h, int w) const {
    return static_cast<size_t>(h) * w * out_channels * element_bytes();
  }
};

// Scratch a worker thread keeps between samples (so the steady state
// allocates nothing) once TrimSampleScratch has run: above it, an outlier's
// buffers are freed instead of pinning its memory in every thread.
inline constexpr size_t kRetainedScratchBytesPerThread = size_t{16} << 20;

// The calling thread's buffers for one sample. DecodeAndResize decodes into
// `decoded`; callers read files into `file_bytes` and resize into `resized`
// so that ThreadSampleScratchBytes and TrimSampleScratch cover them too.
struct SampleScratch {
  std::vector<uint8_t> file_bytes;
  Image decoded;
  // A JPEG's planes (DecodeJpegYcc); holds decoded's buffer while in use,
  // so both together never hold more than one decoded image.
  YccImage ycc;
  FloatImage resized;
  // The normalized float32 sample before its conversion to a half dtype.
  std::vector<float> normalized;
};
SampleScratch& ThreadSampleScratch();

// Upper bound of the heap bytes DecodeAndResize touches for an image with
// `header` (from PeekImageHeader with `transform.decode`): decoded pixels,
// the decoder's working memory, the resize scratch and `resized`; not the
// file bytes. From the header alone, so memory can be reserved before
// decoding. Assumes the calling thread's scratch starts out released; kept
// scratch only lowers what a sample allocates.
size_t SampleScratchBytes(const ImageHeader& header, const SampleTransform& transform);

// The same for sample `sample_id` alone: its crop is known from the header
// and the seed, so a partial JPEG decode reserves its window's bytes, not
// the whole image's.
size_t SampleScratchBytes(const ImageHeader& header, const SampleTransform& transform, int64_t sample_id);

// The DCT scale-down (1, 2, 4 or 8) at which DecodeAndResize decodes a JPEG
// crop of crop_width x crop_height for an out_width x out_height output:
// the largest measured to pay (README "Partial decode") that still leaves
// the crop at least the output's size in both axes.
int JpegScaleDenom(int crop_width, int crop_height, int out_width, int out_height);

// Heap bytes all of the calling thread's sample scratch holds now: the
// SampleScratch buffers, the decoder's and the resize's.
size_t ThreadSampleScratchBytes();

// Frees the calling thread's scratch buffers, largest first, until it holds
// at most `keep_bytes` (kRetainedScratchBytesPerThread after each sample).
// Frees nothing when it already fits, so ordinary samples keep theirs.
void TrimSampleScratch(size_t keep_bytes);

// Decodes `file_bytes`, crops/flips it as `transform.augment` decides for
// `sample_id`, and resizes it into `resized` (float, 8-bit scale). JPEGs
// decode only the crop's window (bit-exact), random_resized_crop's also
// DCT-scaled per JpegScaleDenom (within a tolerance, README "Partial
// decode"), unless `transform.decode.partial_jpeg` is false. A crop of a
// JPEG that is decoded at 1/d has its edges moved down to multiples of d
// (whatever partial_jpeg says, so both paths crop the same pixels). Errors
// name what failed, not the file. Thread-safe; per-thread scratch is reused.
// If `timings` is given, its decode and resize (crop, flip, resize) times are
// set (no allocation: two clock reads per stage).
absl::Status DecodeAndResize(const std::vector<uint8_t>& file_bytes, const SampleTransform& transform,
                             int64_t sample_id, FloatImage* resized, SampleTimings* timings = nullptr);

// Writes `resized` into one output slot (normalization, channels, layout,
// dtype). The half dtypes go through the calling thread's
// SampleScratch::normalized (float32), then StoreF16/StoreBF16.
void WriteSample(const FloatImage& resized, const SampleTransform& transform, uint8_t* slot);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_SAMPLE_PROCESSOR_H_
