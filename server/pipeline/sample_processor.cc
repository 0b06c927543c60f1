#include "server/pipeline/sample_processor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/half_float.h"
#include "common/random.h"

namespace imagefeed {

namespace {

// uint8 output of a 16-bit image keeps the high byte (v >> 8), the same rule
// as libpng's png_set_strip_16 and the conformance manifests.
void ReduceTo8Bit(Image* image) {
  const size_t n = static_cast<size_t>(image->width) * image->height * image->channels;
  uint8_t* data = image->data.data();
  for (size_t i = 0; i < n; ++i) {  // in place: the write index never passes the read index
    uint16_t v;
    std::memcpy(&v, data + 2 * i, sizeof(v));
    data[i] = static_cast<uint8_t>(v >> 8);
  }
  image->bit_depth = 8;
  image->data.resize(n);
}

size_t FloatImageBytes(int width, int height, int channels) {
  return static_cast<size_t>(width) * height * channels * sizeof(float);
}

// What the resize of an image of `width` x `height` needs besides its output.
size_t ResizeBytes(int width, int height, int channels, int out_width, int out_height,
                   const SampleTransform& transform) {
  if (transform.augment.random_resized_crop) {  // any region: the whole image bounds it
    return ResizeScratchBytes(width, height, channels, out_width, out_height);
  }
  // Without random crops the region does not depend on the sample.
  const CropPlan crop = PlanCrop(width, height, transform.out_width, transform.out_height, transform.augment, 0);
  if (crop.width == out_width && crop.height == out_height && crop.box.width <= 0) return 0;  // a plain conversion
  return ResizeScratchBytes(crop.width, crop.height, channels, out_width, out_height);
}

// One block of thread-local scratch for TrimSampleScratch.
struct HeldScratch {
  size_t bytes;
  void (*release)();
};

// The float32 staging buffer of a half-dtype output sample.
size_t HalfStagingBytes(int out_width, int out_height, const SampleTransform& transform) {
  if (transform.dtype != OutputDType::kFloat16 && transform.dtype != OutputDType::kBFloat16) return 0;
  return FloatImageBytes(out_width, out_height, transform.out_channels);
}

}  // namespace

size_t ElementBytes(OutputDType dtype) {
  switch (dtype) {
    case OutputDType::kUint8:
      return 1;
    case OutputDType::kFloat16:
    case OutputDType::kBFloat16:
      return 2;
    case OutputDType::kFloat32:
      break;
  }
  return 4;
}

const char* OutputDTypeName(OutputDType dtype) {
  switch (dtype) {
    case OutputDType::kUint8:
      return "uint8";
    case OutputDType::kFloat16:
      return "float16";
    case OutputDType::kBFloat16:
      return "bfloat16";
    case OutputDType::kFloat32:
      break;
  }
  return "float32";
}

SampleScratch& ThreadSampleScratch() {
  thread_local SampleScratch scratch;
  return scratch;
}

size_t SampleScratchBytes(const ImageHeader& header, const SampleTransform& transform) {
  const int w = header.upright_width(), h = header.upright_height(), c = header.channels;
  // Native size (0 x 0) keeps the whole image, as DecodeAndResize does.
  const int out_w = transform.out_width > 0 ? transform.out_width : w;
  const int out_h = transform.out_height > 0 ? transform.out_height : h;
  return header.decoded_bytes() + header.decoder_scratch_bytes +
         ResizeBytes(w, h, c, out_w, out_h, transform) + FloatImageBytes(out_w, out_h, c) +
         HalfStagingBytes(out_w, out_h, transform);
}

size_t ThreadSampleScratchBytes() {
  const SampleScratch& s = ThreadSampleScratch();
  return CapacityBytes(s.file_bytes) + CapacityBytes(s.decoded.data) + CapacityBytes(s.resized.data) +
         CapacityBytes(s.normalized) + ThreadDecoderScratchBytes() + ThreadResizeScratchBytes();
}

void TrimSampleScratch(size_t keep_bytes) {
  HeldScratch held[] = {
      {CapacityBytes(ThreadSampleScratch().file_bytes), [] { ReleaseIfLarger(&ThreadSampleScratch().file_bytes, 0); }},
      {CapacityBytes(ThreadSampleScratch().decoded.data), [] { ReleaseIfLarger(&ThreadSampleScratch().decoded.data, 0); }},
      {CapacityBytes(ThreadSampleScratch().resized.data), [] { ReleaseIfLarger(&ThreadSampleScratch().resized.data, 0); }},
      {CapacityBytes(ThreadSampleScratch().normalized), [] { ReleaseIfLarger(&ThreadSampleScratch().normalized, 0); }},
      {ThreadDecoderScratchBytes(), ReleaseDecoderScratch},
      {ThreadResizeScratchBytes(), ReleaseResizeScratch},
  };
  size_t total = 0;
  for (const HeldScratch& h : held) total += h.bytes;
  std::sort(std::begin(held), std::end(held), [](const HeldScratch& a, const HeldScratch& b) { return a.bytes > b.bytes; });
  for (const HeldScratch& h : held) {
    if (total <= keep_bytes) break;
    h.release();
    total -= h.bytes;
  }
}

absl::Status DecodeAndResize(const std::vector<uint8_t>& file_bytes, const SampleTransform& transform,
                             int64_t sample_id, FloatImage* resized, SampleTimings* timings) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = timings != nullptr ? Clock::now() : Clock::time_point();
  Image& decoded = ThreadSampleScratch().decoded;
  absl::Status s = DecodeImage(absl::MakeConstSpan(file_bytes), transform.decode, &decoded);
  const Clock::time_point decoded_at = timings != nullptr ? Clock::now() : Clock::time_point();
  if (timings != nullptr) timings->ns[static_cast<int>(Stage::kDecode)] = Nanos(start, decoded_at);
  if (!s.ok()) return s;
  if (transform.dtype == OutputDType::kUint8 && decoded.bit_depth == 16) ReduceTo8Bit(&decoded);
  const CropPlan crop =
      PlanCrop(decoded.width, decoded.height, transform.out_width, transform.out_height, transform.augment,
               MixSeed(transform.seed, transform.epoch, static_cast<uint64_t>(sample_id), 0xA06u));
  const int w = transform.out_width > 0 ? transform.out_width : crop.width;
  const int h = transform.out_height > 0 ? transform.out_height : crop.height;
  ResizeRegionBoxToFloat(decoded, crop.x, crop.y, crop.width, crop.height, crop.box, w, h, crop.flip, resized);
  if (timings != nullptr) timings->ns[static_cast<int>(Stage::kResize)] = Nanos(decoded_at, Clock::now());
  return absl::OkStatus();
}

void WriteSample(const FloatImage& resized, const SampleTransform& transform, uint8_t* slot) {
  switch (transform.dtype) {
    case OutputDType::kUint8:
      ConvertToUint8(resized, transform.out_channels, transform.layout, slot);
      return;
    case OutputDType::kFloat16:
    case OutputDType::kBFloat16: {
      // Normalized in float32 exactly as for kFloat32, then rounded once.
      std::vector<float>& staged = ThreadSampleScratch().normalized;
      const size_t n = static_cast<size_t>(resized.width) * resized.height * transform.out_channels;
      staged.resize(n);
      NormalizeInto(resized, transform.out_channels, transform.normalize, transform.layout, staged.data());
      (transform.dtype == OutputDType::kFloat16 ? StoreF16 : StoreBF16)(staged.data(), n, slot);
      return;
    }
    case OutputDType::kFloat32:
      break;
  }
  NormalizeInto(resized, transform.out_channels, transform.normalize, transform.layout,
                reinterpret_cast<float*>(slot));
}

}  // namespace imagefeed
