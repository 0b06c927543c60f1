// kernels_bench: Google Benchmark micro-benchmarks of the per-sample kernels
// (decode, resize, write into the batch slot) on one generated 500x375 photo-like
// JPEG, the size of a typical ImageNet image, resized to 224x224.
//
//   build/bin/kernels_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true [--no_avx512]
//
// The *Reference benchmarks run the scalar reference kernels
// (ResizeRegionToFloatReference, NormalizeIntoReference, ConvertToUint8Reference:
// the code before the SIMD kernels), so each kernel's speed-up is the ratio of
// two lines of the same run. The kernels dispatch to the best target of this
// CPU; HWY target names are printed first. No timing is asserted anywhere.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/image.h"
#include "hwy/targets.h"
#include "common/image_encoders.h"
#include "server/decode/image_decoder.h"
#include "server/decode/jpeg_window_decoder.h"
#include "server/pipeline/sample_processor.h"
#include "server/transform/normalize.h"
#include "server/transform/resize.h"
#include "server/transform/simd_kernels.h"

namespace imagefeed {
namespace {

constexpr int kSrcW = 500, kSrcH = 375, kOut = 224;

// Smooth shapes plus noise: JPEG-compresses like a photo (a pure gradient
// would make the entropy decode unrealistically cheap).
Image PhotoLike(int w, int h, int channels) {
  Image img;
  img.Reset(w, h, channels, 8);
  uint32_t rng = 12345;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        rng = rng * 1664525u + 1013904223u;
        const double v = 128 + 60 * std::sin(x * 0.03 * (c + 1)) * std::cos(y * 0.021) + 30 * std::sin((x + y) * 0.11) +
                         static_cast<int>(rng >> 28) - 8;
        img.row(y)[x * channels + c] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
      }
    }
  }
  return img;
}

const std::vector<uint8_t>& Jpeg() {
  static const std::vector<uint8_t> bytes = [] {
    std::string s = EncodeJpeg(PhotoLike(kSrcW, kSrcH, 3), 90).value();
    return std::vector<uint8_t>(s.begin(), s.end());
  }();
  return bytes;
}

const Image& Decoded() {
  static const Image img = [] {
    Image out;
    if (!DecodeImage(absl::MakeConstSpan(Jpeg()), DecodeOptions(), &out).ok()) std::abort();
    return out;
  }();
  return img;
}

const FloatImage& Resized() {
  static const FloatImage img = [] {
    FloatImage out;
    ResizeToFloat(Decoded(), kOut, kOut, &out);
    return out;
  }();
  return img;
}

SampleTransform Standardize() {
  SampleTransform t;
  t.out_width = t.out_height = kOut;
  t.normalize.mode = NormalizeMode::kStandardize;
  t.normalize.mean = {0.485, 0.456, 0.406};
  t.normalize.std = {0.229, 0.224, 0.225};
  t.layout = TensorLayout::kNCHW;
  return t;
}

SampleTransform Uint8Nhwc() {
  SampleTransform t;
  t.out_width = t.out_height = kOut;
  t.dtype = OutputDType::kUint8;
  t.layout = TensorLayout::kNHWC;
  return t;
}

void BM_DecodeJpeg(benchmark::State& state) {
  Image out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeImage(absl::MakeConstSpan(Jpeg()), DecodeOptions(), &out).ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeJpeg);

std::vector<uint8_t> Png(PngFilter filter) {
  std::string s = EncodePng(PhotoLike(kSrcW, kSrcH, 3), /*interlace=*/false, filter).value();
  return std::vector<uint8_t>(s.begin(), s.end());
}

// The same photo as an RGB PNG: the whole-buffer path (libdeflate, filters
// undone in png_decoder.cc) against libpng with zlib; with libpng's per-row
// filter choice (Average, for this synthetic image) and with Paeth on every
// row (what PIL and libpng pick for almost every row of a real photo).
void BM_DecodePng(benchmark::State& state, bool whole_buffer, PngFilter filter) {
  const std::vector<uint8_t> png = Png(filter);
  DecodeOptions options;
  options.whole_buffer_png = whole_buffer;
  Image out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecodeImage(absl::MakeConstSpan(png), options, &out).ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DecodePng, WholeBuffer, true, PngFilter::kAdaptive);
BENCHMARK_CAPTURE(BM_DecodePng, Libpng, false, PngFilter::kAdaptive);
BENCHMARK_CAPTURE(BM_DecodePng, WholeBufferPaeth, true, PngFilter::kPaeth);
BENCHMARK_CAPTURE(BM_DecodePng, LibpngPaeth, false, PngFilter::kPaeth);

// Resize 500x375 RGB u8 -> 224x224 float, with and without the flip,
// through the SIMD path and the scalar reference.
void BM_Resize(benchmark::State& state, bool reference, bool flip) {
  FloatImage out;
  const Image& src = Decoded();
  for (auto _ : state) {
    if (reference) {
      ResizeRegionToFloatReference(src, 0, 0, src.width, src.height, kOut, kOut, flip, &out);
    } else {
      ResizeRegionToFloat(src, 0, 0, src.width, src.height, kOut, kOut, flip, &out);
    }
    benchmark::DoNotOptimize(out.data.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Resize, Simd, false, false);
BENCHMARK_CAPTURE(BM_Resize, Reference, true, false);
BENCHMARK_CAPTURE(BM_Resize, SimdFlip, false, true);
BENCHMARK_CAPTURE(BM_Resize, ReferenceFlip, true, true);

// The same resize from the photo's YCbCr planes (4:2:0, as decoded by
// DecodeJpegYcc): the resize recipe's path for such JPEGs.
const YccImage& DecodedYcc() {
  static const YccImage* ycc = [] {
    auto* out = new YccImage;
    const absl::StatusOr<ImageHeader> header = PeekImageHeader(absl::MakeConstSpan(Jpeg()), DecodeOptions());
    if (!header.ok()) std::abort();
    absl::StatusOr<bool> ok = DecodeJpegYcc(absl::MakeConstSpan(Jpeg()), *header, size_t{1} << 30, out);
    if (!ok.ok() || !*ok) std::abort();
    return out;
  }();
  return *ycc;
}

void BM_ResizeYcc(benchmark::State& state) {
  FloatImage out;
  const YccImage& src = DecodedYcc();
  for (auto _ : state) {
    if (!ResizeYccToFloat(src, SampleBox{}, kOut, kOut, /*flip=*/false, &out)) std::abort();
    benchmark::DoNotOptimize(out.data.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ResizeYcc);

// The scalar write WriteSample did before the SIMD kernel.
void WriteSampleReference(const FloatImage& resized, const SampleTransform& t, uint8_t* slot) {
  if (t.dtype == OutputDType::kUint8) {
    ConvertToUint8Reference(resized, t.out_channels, t.layout, slot);
  } else {
    NormalizeIntoReference(resized, t.out_channels, t.normalize, t.layout, reinterpret_cast<float*>(slot));
  }
}

// Normalize, convert and lay out one 224x224 sample into its batch slot.
void BM_WriteSample(benchmark::State& state, SampleTransform t, bool reference) {
  std::vector<uint8_t> slot(t.SampleBytes(kOut, kOut));
  for (auto _ : state) {
    if (reference) {
      WriteSampleReference(Resized(), t, slot.data());
    } else {
      WriteSample(Resized(), t, slot.data());
    }
    benchmark::DoNotOptimize(slot.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_WriteSample, Float32NchwStandardize_Simd, Standardize(), false);
BENCHMARK_CAPTURE(BM_WriteSample, Float32NchwStandardize_Reference, Standardize(), true);
BENCHMARK_CAPTURE(BM_WriteSample, Uint8Nhwc_Simd, Uint8Nhwc(), false);
BENCHMARK_CAPTURE(BM_WriteSample, Uint8Nhwc_Reference, Uint8Nhwc(), true);

// The same write into the slots of a 64-sample batch buffer in turn, as a
// worker fills them (38.5 MB of float32: every slot write misses the cache,
// unlike BM_WriteSample's one slot).
void BM_WriteIntoBatch(benchmark::State& state, SampleTransform t) {
  constexpr int kBatch = 64;
  const size_t sample_bytes = t.SampleBytes(kOut, kOut);
  std::unique_ptr<uint8_t[]> batch(new uint8_t[sample_bytes * kBatch]);  // as BatchBuffer allocates
  int slot = 0;
  for (auto _ : state) {
    WriteSample(Resized(), t, batch.get() + sample_bytes * slot);
    slot = (slot + 1) % kBatch;
    benchmark::DoNotOptimize(batch.get());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(sample_bytes));
}
BENCHMARK_CAPTURE(BM_WriteIntoBatch, Float32NchwStandardize, Standardize());
BENCHMARK_CAPTURE(BM_WriteIntoBatch, Uint8Nhwc, Uint8Nhwc());

// The whole per-sample path of a worker: decode, resize, write (SIMD).
void BM_Sample(benchmark::State& state, SampleTransform t) {
  std::vector<uint8_t> slot(t.SampleBytes(kOut, kOut));
  FloatImage resized;
  for (auto _ : state) {
    if (!DecodeAndResize(Jpeg(), t, 0, &resized).ok()) std::abort();
    WriteSample(resized, t, slot.data());
    benchmark::DoNotOptimize(slot.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Sample, Float32NchwStandardize, Standardize());
BENCHMARK_CAPTURE(BM_Sample, Uint8Nhwc, Uint8Nhwc());

// The same with the scalar reference kernels (decode, resize, then write).
void BM_SampleReference(benchmark::State& state, SampleTransform t) {
  std::vector<uint8_t> slot(t.SampleBytes(kOut, kOut));
  Image decoded;
  FloatImage resized;
  for (auto _ : state) {
    if (!DecodeImage(absl::MakeConstSpan(Jpeg()), DecodeOptions(), &decoded).ok()) std::abort();
    ResizeRegionToFloatReference(decoded, 0, 0, decoded.width, decoded.height, kOut, kOut, false, &resized);
    WriteSampleReference(resized, t, slot.data());
    benchmark::DoNotOptimize(slot.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SampleReference, Float32NchwStandardize, Standardize());
BENCHMARK_CAPTURE(BM_SampleReference, Uint8Nhwc, Uint8Nhwc());

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) {
  // --no_avx512: dispatch to AVX2 at most (to compare the targets on one machine).
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--no_avx512") {
      hwy::DisableTargets(HWY_AVX3 | HWY_AVX3_DL);
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      break;
    }
  }
  std::printf("SIMD target: %s\n", imagefeed::simd::DispatchedTargetName());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
