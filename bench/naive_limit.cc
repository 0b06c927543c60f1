// naive_limit: the yardstick of bench/speed_bench.py. What a plain program does
// with the same images on every core, no gRPC, no cleverness: read the file,
// decode it whole (TurboJPEG tjDecompress2 to RGB; libpng's simplified API for
// PNGs), a straightforward scalar bilinear resize (2x2 taps, half-pixel
// centres, no antialiasing) into a float HWC buffer, then normalize (ImageNet
// mean/std, float32 CHW) or round to uint8 CHW into a batch slot. Kept naive on
// purpose: it is the fixed reference that imagefeed's ratios are taken against,
// so do not optimize it.
//
//   build/bin/naive_limit --recipe=resize|center|train --dtype=float32|uint8
//       [--threads=N] [--seconds=S] FILE...        (or --list=FILE with one path a line)
//
// Recipes: resize = stretch to 224x224; center = shorter side to 256, then the
// centred 224x224 (torchvision Resize(256) + CenterCrop(224)); train = a
// RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) resized to 224x224 and a
// random horizontal flip. std::thread per core, each taking the next file
// from a shared atomic counter, cycling over the files until --seconds passed
// (at least one pass). Prints one JSON line: images, seconds, images_per_second.
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kOut = 224;
constexpr int kBatch = 64;
constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};

struct Options {
  std::string recipe = "resize";
  bool uint8 = false;
  int threads = 0;
  double seconds = 3;
  std::vector<std::string> files;
};

struct Rgb {
  int w = 0, h = 0;
  std::vector<uint8_t> px;  // HWC, 3 channels
};

bool ReadFile(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

bool DecodeJpeg(tjhandle tj, const std::vector<uint8_t>& bytes, Rgb* img) {
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, bytes.data(), bytes.size(), &w, &h, &subsamp, &colorspace) != 0) return false;
  img->w = w;
  img->h = h;
  img->px.resize(static_cast<size_t>(w) * h * 3);
  return tjDecompress2(tj, bytes.data(), bytes.size(), img->px.data(), w, 0, h, TJPF_RGB, 0) == 0;
}

bool DecodePng(const std::vector<uint8_t>& bytes, Rgb* img) {
  png_image p;
  std::memset(&p, 0, sizeof(p));
  p.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&p, bytes.data(), bytes.size())) return false;
  p.format = PNG_FORMAT_RGB;
  img->w = static_cast<int>(p.width);
  img->h = static_cast<int>(p.height);
  img->px.resize(PNG_IMAGE_SIZE(p));
  return png_image_finish_read(&p, nullptr, img->px.data(), 0, nullptr) != 0;
}

// Bilinear resize of the region [x0, x0+cw) x [y0, y0+ch) of `src` to ow x oh
// floats (HWC), 2x2 taps per output pixel.
void Bilinear(const Rgb& src, double x0, double y0, double cw, double ch, int ow, int oh, std::vector<float>* out) {
  out->resize(static_cast<size_t>(ow) * oh * 3);
  const double sx = cw / ow, sy = ch / oh;
  for (int y = 0; y < oh; ++y) {
    double fy = y0 + (y + 0.5) * sy - 0.5;
    fy = std::clamp(fy, 0.0, src.h - 1.0);
    const int iy = std::min(static_cast<int>(fy), src.h - 2 < 0 ? 0 : src.h - 2);
    const float wy = static_cast<float>(fy - iy);
    const int iy1 = std::min(iy + 1, src.h - 1);
    for (int x = 0; x < ow; ++x) {
      double fx = x0 + (x + 0.5) * sx - 0.5;
      fx = std::clamp(fx, 0.0, src.w - 1.0);
      const int ix = std::min(static_cast<int>(fx), src.w - 2 < 0 ? 0 : src.w - 2);
      const float wx = static_cast<float>(fx - ix);
      const int ix1 = std::min(ix + 1, src.w - 1);
      const uint8_t* p00 = &src.px[(static_cast<size_t>(iy) * src.w + ix) * 3];
      const uint8_t* p01 = &src.px[(static_cast<size_t>(iy) * src.w + ix1) * 3];
      const uint8_t* p10 = &src.px[(static_cast<size_t>(iy1) * src.w + ix) * 3];
      const uint8_t* p11 = &src.px[(static_cast<size_t>(iy1) * src.w + ix1) * 3];
      float* o = &(*out)[(static_cast<size_t>(y) * ow + x) * 3];
      for (int c = 0; c < 3; ++c) {
        const float top = p00[c] + (p01[c] - p00[c]) * wx;
        const float bottom = p10[c] + (p11[c] - p10[c]) * wx;
        o[c] = top + (bottom - top) * wy;
      }
    }
  }
}

// Writes the kOut x kOut window at (left, top) of `hwc` (width `w`) into a
// CHW slot: normalized float32 or rounded uint8, mirrored if `flip`.
void WriteSlot(const std::vector<float>& hwc, int w, int left, int top, bool flip, bool uint8, void* slot) {
  const size_t plane = static_cast<size_t>(kOut) * kOut;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < kOut; ++y) {
      for (int x = 0; x < kOut; ++x) {
        const int sx = left + (flip ? kOut - 1 - x : x);
        const float v = hwc[(static_cast<size_t>(top + y) * w + sx) * 3 + c];
        const size_t i = c * plane + static_cast<size_t>(y) * kOut + x;
        if (uint8) {
          static_cast<uint8_t*>(slot)[i] = static_cast<uint8_t>(std::clamp(v + 0.5f, 0.0f, 255.0f));
        } else {
          static_cast<float*>(slot)[i] = (v / 255.0f - kMean[c]) / kStd[c];
        }
      }
    }
  }
}

// torchvision RandomResizedCrop.get_params, with its centre-crop fallback.
void RandomCrop(int w, int h, std::mt19937_64& rng, double* x, double* y, double* cw, double* ch) {
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < 10; ++i) {
    const double area = w * h * (0.08 + 0.92 * u(rng));
    const double ratio = std::exp(std::log(3.0 / 4) + (std::log(4.0 / 3) - std::log(3.0 / 4)) * u(rng));
    const int tw = static_cast<int>(std::lround(std::sqrt(area * ratio)));
    const int th = static_cast<int>(std::lround(std::sqrt(area / ratio)));
    if (tw > 0 && tw <= w && th > 0 && th <= h) {
      *x = std::uniform_int_distribution<int>(0, w - tw)(rng);
      *y = std::uniform_int_distribution<int>(0, h - th)(rng);
      *cw = tw;
      *ch = th;
      return;
    }
  }
  const int s = std::min(w, h);
  *x = (w - s) / 2;
  *y = (h - s) / 2;
  *cw = *ch = s;
}

// One sample: file -> slot. False if the file cannot be read or decoded.
bool Process(const Options& o, const std::string& path, tjhandle tj, std::mt19937_64& rng, std::vector<uint8_t>& bytes,
             Rgb& img, std::vector<float>& hwc, void* slot) {
  if (!ReadFile(path, &bytes)) return false;
  const bool png = bytes.size() >= 8 && bytes[0] == 0x89 && bytes[1] == 'P';
  if (!(png ? DecodePng(bytes, &img) : DecodeJpeg(tj, bytes, &img))) return false;
  if (o.recipe == "center") {
    const bool wide = img.w > img.h;
    const int short_side = std::min(img.w, img.h), long_side = std::max(img.w, img.h);
    const int rl = static_cast<int>(256.0 * long_side / short_side);
    const int rw = wide ? rl : 256, rh = wide ? 256 : rl;
    Bilinear(img, 0, 0, img.w, img.h, rw, rh, &hwc);
    WriteSlot(hwc, rw, static_cast<int>(std::nearbyint((rw - kOut) / 2.0)),
              static_cast<int>(std::nearbyint((rh - kOut) / 2.0)), false, o.uint8, slot);
  } else if (o.recipe == "train") {
    double x = 0, y = 0, cw = 0, ch = 0;
    RandomCrop(img.w, img.h, rng, &x, &y, &cw, &ch);
    Bilinear(img, x, y, cw, ch, kOut, kOut, &hwc);
    WriteSlot(hwc, kOut, 0, 0, (rng() >> 63) != 0, o.uint8, slot);
  } else {
    Bilinear(img, 0, 0, img.w, img.h, kOut, kOut, &hwc);
    WriteSlot(hwc, kOut, 0, 0, false, o.uint8, slot);
  }
  return true;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string flag = a.substr(0, eq), value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (flag == "--recipe") {
      o->recipe = value;
    } else if (flag == "--dtype") {
      o->uint8 = value == "uint8";
    } else if (flag == "--threads") {
      o->threads = std::atoi(value.c_str());
    } else if (flag == "--seconds") {
      o->seconds = std::atof(value.c_str());
    } else if (flag == "--list") {
      std::ifstream f(value);
      for (std::string line; std::getline(f, line);) {
        if (!line.empty()) o->files.push_back(line);
      }
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "naive_limit: unknown flag %s\n", a.c_str());
      return false;
    } else {
      o->files.push_back(a);
    }
  }
  if (o->recipe != "resize" && o->recipe != "center" && o->recipe != "train") {
    std::fprintf(stderr, "naive_limit: --recipe must be resize, center or train\n");
    return false;
  }
  if (o->files.empty()) {
    std::fprintf(stderr, "naive_limit: no image files given\n");
    return false;
  }
  if (o->threads <= 0) o->threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) return 2;
  const size_t n = o.files.size();
  std::atomic<size_t> next{0}, done{0}, failed{0};
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      tjhandle tj = tjInitDecompress();
      std::mt19937_64 rng(1234 + t);
      std::vector<uint8_t> bytes;
      Rgb img;
      std::vector<float> hwc;
      const size_t slot_bytes = static_cast<size_t>(kOut) * kOut * 3 * (o.uint8 ? 1 : sizeof(float));
      std::vector<uint8_t> batch(slot_bytes * kBatch);
      for (size_t i = next++;; i = next++) {
        if (i >= n && elapsed() >= o.seconds) break;
        void* slot = batch.data() + (i % kBatch) * slot_bytes;
        if (Process(o, o.files[i % n], tj, rng, bytes, img, hwc, slot)) {
          ++done;
        } else {
          ++failed;
        }
      }
      tjDestroy(tj);
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = elapsed();
  std::printf("{\"recipe\":\"%s\",\"dtype\":\"%s\",\"threads\":%d,\"images\":%zu,\"failed\":%zu,\"seconds\":%.3f,"
              "\"images_per_second\":%.1f}\n",
              o.recipe.c_str(), o.uint8 ? "uint8" : "float32", o.threads, done.load(), failed.load(), seconds,
              done.load() / seconds);
  return failed.load() > 0 ? 1 : 0;
}
