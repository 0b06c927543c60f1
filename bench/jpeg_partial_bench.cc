// jpeg_partial_bench: what partial JPEG decoding saves, one thread, per
// image, against the whole decode (DecodeJpeg, TurboJPEG) in the same run.
//
//   build/bin/jpeg_partial_bench /tmp/photos/train [repeats=3]
//
// Rows (every .jpg under the directory, read into memory first):
//   full              DecodeJpeg: the whole image (the baseline)
//   scale_1/N         DecodeJpegWindow of the whole image at 1/N (DCT scaling)
//   rrc_window        the train recipe's RandomResizedCrop window (224), scale 1
//   rrc_window_auto   the same window at the scale DecodeAndResize picks
//   train_sample[_full]   DecodeAndResize + WriteSample (RandomResizedCrop 224 +
//                         flip, standardize, float32) with partial decoding, or not
//   center_sample[_full]  the same with the shorter-side centre crop (224)
//   resize_sample[_rgb]   the same stretched to 224 x 224 (the resize recipe),
//                         from the YCbCr planes or from the RGB decode
// and how far the YCbCr-plane resize moves the resize recipe's output.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "server/decode/jpeg_decoder.h"
#include "server/decode/jpeg_window_decoder.h"
#include "server/pipeline/sample_processor.h"
#include "server/transform/augment.h"

namespace imagefeed {
namespace {

struct Sample {
  std::vector<uint8_t> bytes;
  ImageHeader header;
  CropPlan crop;
};

std::vector<Sample> LoadJpegs(const std::string& dir) {
  std::vector<Sample> samples;
  AugmentOptions rrc;
  rrc.random_resized_crop = true;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".jpg") continue;
    Sample s;
    if (!ReadFileToBuffer(entry.path().string(), &s.bytes).ok()) continue;
    absl::StatusOr<ImageHeader> header = PeekJpeg(absl::MakeConstSpan(s.bytes), DecodeOptions{});
    if (!header.ok()) continue;
    s.header = *header;
    s.crop = PlanCrop(header->width, header->height, 224, 224, rrc, samples.size());
    samples.push_back(std::move(s));
  }
  return samples;
}

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

using DecodeFn = std::function<bool(const Sample&)>;

// Mean milliseconds of thread CPU time per image of each path: paths are
// interleaved per image and each (path, image) keeps its best of `repeats`,
// so other processes on the machine disturb the comparison little.
std::vector<double> MsPerImage(const std::vector<Sample>& samples, int repeats, const std::vector<DecodeFn>& paths) {
  std::vector<std::vector<double>> best(paths.size(), std::vector<double>(samples.size(), 1e30));
  for (int r = 0; r < repeats; ++r) {
    for (size_t i = 0; i < samples.size(); ++i) {
      for (size_t p = 0; p < paths.size(); ++p) {
        const double start = ThreadCpuMs();
        if (!paths[p](samples[i])) std::fprintf(stderr, "decode failed\n");
        best[p][i] = std::min(best[p][i], ThreadCpuMs() - start);
      }
    }
  }
  std::vector<double> mean(paths.size(), 0);
  for (size_t p = 0; p < paths.size(); ++p) {
    for (double ms : best[p]) mean[p] += ms / samples.size();
  }
  return mean;
}

// Differences of a fast path's outputs from the reference path's, over
// the samples that took the fast path.
struct Differences {
  double sum_abs = 0, sum_sq = 0, worst_psnr = 1e9;
  float max_abs = 0;
  size_t values = 0, over_2 = 0;
  int samples = 0;

  void Add(const FloatImage& fast, const FloatImage& reference) {
    ++samples;
    double sq = 0;
    for (size_t k = 0; k < fast.data.size(); ++k) {
      const float d = std::fabs(fast.data[k] - reference.data[k]);
      sum_abs += d;
      sq += double{d} * d;
      max_abs = std::max(max_abs, d);
      over_2 += d > 2.0f;
    }
    sum_sq += sq;
    values += fast.data.size();
    worst_psnr = std::min(worst_psnr, 10 * std::log10(255.0 * 255.0 / std::max(sq / fast.data.size(), 1e-12)));
  }

  void Print(const char* what, int size, size_t of) const {
    std::printf("%s %3d: %3d of %zu; mean |diff| %.3f, max %.1f, > 2 levels %.3f %%, PSNR %.1f dB (worst %.1f)\n",
                what, size, samples, of, sum_abs / values, max_abs, 100.0 * over_2 / values,
                10 * std::log10(255.0 * 255.0 / (sum_sq / values)), worst_psnr);
  }
};

// How far DCT-scaled decodes move the train recipe's output: DecodeAndResize
// (RandomResizedCrop to size x size) with partial decoding against the full
// decode, over the samples whose crop is decoded scaled.
void ReportScaledTolerance(const std::vector<Sample>& samples, int size) {
  SampleTransform partial;
  partial.out_width = partial.out_height = size;
  partial.augment.random_resized_crop = true;
  SampleTransform full = partial;
  full.decode.partial_jpeg = false;
  FloatImage a, b;
  Differences diff;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (DecodeAndResize(samples[i].bytes, partial, static_cast<int64_t>(i), &a).ok() &&
        DecodeAndResize(samples[i].bytes, full, static_cast<int64_t>(i), &b).ok() && a.data != b.data) {
      diff.Add(a, b);
    }
  }
  if (diff.samples == 0) {
    std::printf("rrc %d: no sample decoded scaled\n", size);
    return;
  }
  diff.Print("rrc, scaled vs full decode", size, samples.size());
}

// How far the YCbCr-plane resize moves the resize recipe's output (stretch
// to size x size): DecodeAndResize with and without DecodeOptions::
// jpeg_ycc_resize, over the samples that take that path.
void ReportYccTolerance(const std::vector<Sample>& samples, int size) {
  SampleTransform ycc;
  ycc.out_width = ycc.out_height = size;
  ycc.augment.resize_mode = ResizeMode::kStretch;
  SampleTransform rgb = ycc;
  rgb.decode.jpeg_ycc_resize = false;
  FloatImage a, b;
  Differences diff;
  for (size_t i = 0; i < samples.size(); ++i) {
    ThreadSampleScratch().ycc.width = 0;  // set again only by the YCbCr-plane path
    if (DecodeAndResize(samples[i].bytes, ycc, static_cast<int64_t>(i), &a).ok() &&
        ThreadSampleScratch().ycc.width != 0 &&
        DecodeAndResize(samples[i].bytes, rgb, static_cast<int64_t>(i), &b).ok()) {
      diff.Add(a, b);
    }
  }
  if (diff.samples == 0) {
    std::printf("ycc %d: no sample took the YCbCr-plane path\n", size);
    return;
  }
  diff.Print("resize, YCbCr planes vs RGB decode", size, samples.size());
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [repeats]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::vector<Sample> samples = LoadJpegs(argv[1]);
  if (samples.empty()) {
    std::fprintf(stderr, "no .jpg files under %s\n", argv[1]);
    return 1;
  }
  Image image;
  PixelRect rect;
  auto window = [&](const Sample& s, const PixelRect& w, int denom) {
    return DecodeJpegWindow(absl::MakeConstSpan(s.bytes), s.header, w, denom, &image, &rect).ok();
  };
  auto whole = [](const Sample& s) { return PixelRect{0, 0, s.header.width, s.header.height}; };
  auto crop = [](const Sample& s) { return PixelRect{s.crop.x, s.crop.y, s.crop.width, s.crop.height}; };
  std::vector<std::string> names = {"full"};
  std::vector<DecodeFn> paths = {[&](const Sample& s) {
    return DecodeJpeg(absl::MakeConstSpan(s.bytes), DecodeOptions{}, &image).ok();
  }};
  for (int denom : {1, 2, 4, 8}) {
    names.push_back("scale_1/" + std::to_string(denom));
    paths.push_back([&, denom](const Sample& s) { return window(s, whole(s), denom); });
  }
  names.push_back("rrc_window");
  paths.push_back([&](const Sample& s) { return window(s, crop(s), 1); });
  names.push_back("rrc_window_auto");
  paths.push_back([&](const Sample& s) {
    return window(s, crop(s), JpegScaleDenom(s.crop.width, s.crop.height, 224, 224));
  });
  // A whole sample as a server worker makes it (decode, crop, resize, flip,
  // standardize into a float32 slot), partial decoding on and off.
  FloatImage resized;
  std::vector<uint8_t> slot;
  auto recipe = [&](const char* name, bool random_crop, bool partial, ResizeMode mode = ResizeMode::kShorterSide,
                    bool ycc = true) {
    SampleTransform t;
    t.out_width = t.out_height = 224;
    t.augment.resize_mode = mode;
    t.decode.jpeg_ycc_resize = ycc;
    t.augment.random_resized_crop = random_crop;
    t.augment.random_flip = random_crop;
    t.normalize.mode = NormalizeMode::kStandardize;
    t.decode.partial_jpeg = partial;
    slot.resize(t.SampleBytes(224, 224));
    names.push_back(name);
    paths.push_back([&, t](const Sample& s) {
      const int64_t id = &s - samples.data();
      if (!DecodeAndResize(s.bytes, t, id, &resized).ok()) return false;
      WriteSample(resized, t, slot.data());
      return true;
    });
  };
  recipe("train_sample_full", true, false);
  recipe("train_sample", true, true);
  recipe("center_sample_full", false, false);
  recipe("center_sample", false, true);
  recipe("resize_sample_rgb", false, true, ResizeMode::kStretch, false);
  recipe("resize_sample", false, true, ResizeMode::kStretch, true);
  const std::vector<double> ms = MsPerImage(samples, repeats, paths);
  std::printf("%zu JPEGs, one thread, CPU time, best of %d per image\n%-18s %8s %8s\n", samples.size(), repeats,
              "path", "ms/img", "vs full");
  for (size_t p = 0; p < paths.size(); ++p) std::printf("%-18s %8.3f %8.2f\n", names[p].c_str(), ms[p], ms[0] / ms[p]);
  int scaled = 0;
  for (const Sample& s : samples) scaled += JpegScaleDenom(s.crop.width, s.crop.height, 224, 224) > 1;
  std::printf("rrc crops decoded scaled: %d of %zu\n", scaled, samples.size());
  for (int size : {224, 112, 64}) ReportScaledTolerance(samples, size);
  for (int size : {224, 112}) ReportYccTolerance(samples, size);
  return 0;
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) { return imagefeed::Main(argc, argv); }
