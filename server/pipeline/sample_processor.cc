#include "server/pipeline/sample_processor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/half_float.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "server/decode/jpeg_window_decoder.h"

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

// DCT scales worth their loss of exactness, largest first (README "Partial
// decode" has the measurements).
constexpr int kJpegScaleDenoms[] = {8, 4, 2};

// What DecodeAndResize does with one sample: the crop of the upright image,
// the scale it is decoded at and the output size.
struct SamplePlan {
  PixelRect window;
  SampleBox box;  // in the window's pixels (Resize + CenterCrop); whole if empty
  bool flip = false;
  int scale_denom = 1;
  int out_width = 0;
  int out_height = 0;
};

SamplePlan PlanSample(const ImageHeader& header, const SampleTransform& transform, int64_t sample_id) {
  const CropPlan crop = PlanCrop(header.upright_width(), header.upright_height(), transform.out_width,
                                 transform.out_height, transform.augment,
                                 MixSeed(transform.seed, transform.epoch, static_cast<uint64_t>(sample_id), 0xA06u));
  SamplePlan plan;
  plan.window = PixelRect{crop.x, crop.y, crop.width, crop.height};
  plan.box = crop.box;
  plan.flip = crop.flip;
  plan.out_width = transform.out_width > 0 ? transform.out_width : crop.width;
  plan.out_height = transform.out_height > 0 ? transform.out_height : crop.height;
  // Scaled decodes are close to, not equal to, the full decode: only for
  // random crops, whose pixels no reference pins; fixed crops stay exact.
  // Only JPEGs as stored scale (DecodeImageWindow decodes the rest whole).
  const bool scalable = transform.augment.random_resized_crop && transform.out_width > 0 &&
                        transform.out_height > 0 && header.format == ImageFormat::kJpeg && header.orientation == 1;
  if (scalable) plan.scale_denom = JpegScaleDenom(crop.width, crop.height, plan.out_width, plan.out_height);
  if (plan.scale_denom > 1) {
    // The crop's edges move to multiples of the scale (by less than it, of
    // a crop at least scale x output wide), so they fall on whole scaled
    // pixels: rounding them instead shifted the output by up to half an
    // output pixel (31 dB against the full decode instead of 40).
    PixelRect& w = plan.window;
    const int d = plan.scale_denom;
    w.x -= w.x % d;
    w.y -= w.y % d;
    w.width -= w.width % d;
    w.height -= w.height % d;
    plan.box = SampleBox{};  // random crops sample their whole window
  }
  return plan;
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

size_t SampleScratchBytes(const ImageHeader& header, const SampleTransform& transform, int64_t sample_id) {
  const SamplePlan plan = PlanSample(header, transform, sample_id);
  const PixelRect& crop = plan.window;
  const size_t resize = plan.out_width == crop.width && plan.out_height == crop.height && plan.box.width <= 0
                            ? 0
                            : ResizeScratchBytes(crop.width, crop.height, header.channels, plan.out_width,
                                                 plan.out_height);
  return DecodedWindowBytes(header, transform.decode, crop, plan.scale_denom) + header.decoder_scratch_bytes +
         resize + FloatImageBytes(plan.out_width, plan.out_height, header.channels) +
         HalfStagingBytes(plan.out_width, plan.out_height, transform);
}

int JpegScaleDenom(int crop_width, int crop_height, int out_width, int out_height) {
  for (int denom : kJpegScaleDenoms) {
    if (int64_t{crop_width} >= int64_t{denom} * out_width && int64_t{crop_height} >= int64_t{denom} * out_height) {
      return denom;
    }
  }
  return 1;
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

namespace {

// Whether DecodeAndResize tries the YCbCr-plane path (DecodeOptions::
// jpeg_ycc_resize) for this sample: a whole, upright 8-bit colour JPEG at
// full scale that is resized (not only converted) with the vertical pass
// first. Whether its chroma is subsampled is known only from its frame
// header, so DecodeJpegYcc may still decline.
bool TriesYcc(const ImageHeader& header, const SampleTransform& transform, const SamplePlan& plan) {
  const PixelRect& w = plan.window;
  const bool whole = w.x == 0 && w.y == 0 && w.width == header.width && w.height == header.height;
  const bool resized = plan.out_width != w.width || plan.out_height != w.height || plan.box.width > 0;
  return transform.decode.jpeg_ycc_resize && header.format == ImageFormat::kJpeg && header.orientation == 1 &&
         header.channels == 3 && header.bit_depth == 8 && plan.scale_denom == 1 && whole && resized &&
         YccResizeApplies(header.width, header.height, plan.box, plan.out_width, plan.out_height);
}

// Lends `decoded`'s buffer to `ycc` for one sample (see SampleScratch).
class LentBuffer {
 public:
  LentBuffer(Image* from, YccImage* to) : from_(from), to_(to) { to_->data.swap(from_->data); }
  ~LentBuffer() { to_->data.swap(from_->data); }
  LentBuffer(const LentBuffer&) = delete;
  LentBuffer& operator=(const LentBuffer&) = delete;

 private:
  Image* from_;
  YccImage* to_;
};

// The YCbCr-plane path: true when it produced `resized`, false when the
// JPEG is not one it takes (the caller then decodes to RGB), or an error.
// Times the decode from `start` and the resize into `timings` (if any).
absl::StatusOr<bool> DecodeAndResizeYcc(absl::Span<const uint8_t> bytes, const ImageHeader& header,
                                        const SamplePlan& plan, FloatImage* resized,
                                        std::chrono::steady_clock::time_point start, SampleTimings* timings) {
  using Clock = std::chrono::steady_clock;
  SampleScratch& scratch = ThreadSampleScratch();
  LentBuffer lent(&scratch.decoded, &scratch.ycc);
  // No more than the RGB decode would take (accounted by SampleScratchBytes).
  absl::StatusOr<bool> decoded = DecodeJpegYcc(bytes, header, header.decoded_bytes(), &scratch.ycc);
  const Clock::time_point decoded_at = timings != nullptr ? Clock::now() : Clock::time_point();
  if (timings != nullptr) timings->ns[static_cast<int>(Stage::kDecode)] = Nanos(start, decoded_at);
  if (!decoded.ok() || !*decoded) return decoded;
  const bool done = ResizeYccToFloat(scratch.ycc, plan.box, plan.out_width, plan.out_height, plan.flip, resized);
  if (timings != nullptr && done) timings->ns[static_cast<int>(Stage::kResize)] = Nanos(decoded_at, Clock::now());
  return done;
}

}  // namespace

absl::Status DecodeAndResize(const std::vector<uint8_t>& file_bytes, const SampleTransform& transform,
                             int64_t sample_id, FloatImage* resized, SampleTimings* timings) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = timings != nullptr ? Clock::now() : Clock::time_point();
  Image& decoded = ThreadSampleScratch().decoded;
  const absl::Span<const uint8_t> bytes = absl::MakeConstSpan(file_bytes);
  absl::StatusOr<ImageHeader> header = PeekImageHeader(bytes, transform.decode);
  SamplePlan plan;
  PixelRect region;  // of `decoded`: the crop, as decoded
  absl::Status s = header.status();
  if (s.ok()) {
    plan = PlanSample(*header, transform, sample_id);
    if (TriesYcc(*header, transform, plan)) {
      absl::StatusOr<bool> done = DecodeAndResizeYcc(bytes, *header, plan, resized, start, timings);
      if (!done.ok() || *done) return done.status();
    }
    s = DecodeImageWindow(bytes, *header, transform.decode, plan.window, plan.scale_denom, &decoded, &region);
  }
  const Clock::time_point decoded_at = timings != nullptr ? Clock::now() : Clock::time_point();
  if (timings != nullptr) timings->ns[static_cast<int>(Stage::kDecode)] = Nanos(start, decoded_at);
  if (!s.ok()) return s;
  // The plan came from the header; a decoder that disagreed with it must not make the resize read outside.
  if (region.x < 0 || region.y < 0 || region.width < 1 || region.height < 1 ||
      region.x > decoded.width - region.width || region.y > decoded.height - region.height) {
    return absl::InvalidArgumentError(absl::StrCat("decoded ", decoded.width, "x", decoded.height,
                                                   " image does not hold the ", region.width, "x", region.height,
                                                   " crop its header promised"));
  }
  if (transform.dtype == OutputDType::kUint8 && decoded.bit_depth == 16) ReduceTo8Bit(&decoded);
  ResizeRegionBoxToFloat(decoded, region.x, region.y, region.width, region.height, plan.box, plan.out_width,
                         plan.out_height, plan.flip, resized);
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
