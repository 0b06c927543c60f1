#include "server/dataset/demo_dataset.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/image_encoders.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace imagefeed {
namespace {

// Bump the version whenever the rendering or the encoding settings change, so
// that caches holding the old images are not mistaken for the new ones.
constexpr char kDemoDirName[] = "demo-v1";
constexpr uint64_t kDemoSeed = 0x1D8E4E27C47D124FULL;
constexpr int kJpegQuality = 90;

// Uniform in [lo, hi] (modulo bias is negligible for these tiny ranges; kept
// as is because it defines the demo-v1 pixels).
int Range(SplitMix64& rng, int lo, int hi) {
  return lo + static_cast<int>(rng.Next() % static_cast<uint64_t>(hi - lo + 1));
}

struct Rgb {
  int r, g, b;
};

int Luma(const Rgb& c) { return (77 * c.r + 150 * c.g + 29 * c.b + 128) >> 8; }

Rgb RandomColor(SplitMix64& rng) {
  return {Range(rng, 0, 255), Range(rng, 0, 255), Range(rng, 0, 255)};
}

// Picks a shape colour whose luma differs from both background colours by
// enough that the shape stays visible in the gray images too.
Rgb ContrastingColor(SplitMix64& rng, const Rgb& bg1, const Rgb& bg2) {
  constexpr int kMinLumaGap = 70;
  for (int attempt = 0; attempt < 32; ++attempt) {
    Rgb c = RandomColor(rng);
    if (std::abs(Luma(c) - Luma(bg1)) >= kMinLumaGap &&
        std::abs(Luma(c) - Luma(bg2)) >= kMinLumaGap) {
      return c;
    }
  }
  return Luma(bg1) + Luma(bg2) >= 256 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
}

// Geometry in half-pixel units, so that pixel centres (2x+1, 2y+1) and shape
// edges meet on an integer grid.
struct Shape {
  int label;
  int cx2, cy2;  // centre
  int r2;        // "radius": half the extent of the shape
  bool flip;     // triangle points down instead of up
};

int64_t Edge(int64_t ax, int64_t ay, int64_t bx, int64_t by, int64_t px, int64_t py) {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

bool Inside(const Shape& s, int px2, int py2) {
  const int dx = px2 - s.cx2;
  const int dy = py2 - s.cy2;
  switch (s.label) {
    case 0: {  // circle
      return dx * dx + dy * dy <= s.r2 * s.r2;
    }
    case 1: {                               // cross ("+")
      const int t = std::max(6, s.r2 / 3);  // half the bar thickness
      const int ax = std::abs(dx), ay = std::abs(dy);
      return (ax <= t && ay <= s.r2) || (ay <= t && ax <= s.r2);
    }
    case 2: {  // square, slightly smaller than the circle so the areas compare
      const int h = s.r2 * 85 / 100;
      return std::abs(dx) <= h && std::abs(dy) <= h;
    }
    default: {  // triangle: apex at the top (or bottom if flipped)
      const int sign = s.flip ? -1 : 1;
      const int apex_y = s.cy2 - sign * s.r2;
      const int base_y = s.cy2 + sign * s.r2 * 3 / 4;
      int64_t e0 = Edge(s.cx2, apex_y, s.cx2 + s.r2, base_y, px2, py2);
      int64_t e1 = Edge(s.cx2 + s.r2, base_y, s.cx2 - s.r2, base_y, px2, py2);
      int64_t e2 = Edge(s.cx2 - s.r2, base_y, s.cx2, apex_y, px2, py2);
      return (e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0);
    }
  }
}

uint8_t Clamp(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

bool IsPng(int index) { return index % 3 == 2; }
bool IsGray(int index) { return index % 10 == 4; }

}  // namespace

Image RenderDemoImage(int label, int index) {
  // Seeded by the index alone: images with the same index differ between
  // classes only in the shape (same colours, size, position, noise).
  SplitMix64 rng(kDemoSeed ^ static_cast<uint64_t>(index));
  constexpr int kSize = kDemoImageSize;
  // Background: a flat colour or a horizontal/vertical gradient, plus noise.
  const Rgb bg1 = RandomColor(rng);
  const int gradient = Range(rng, 0, 2);  // 0 flat, 1 along x, 2 along y
  const Rgb bg2 = gradient == 0 ? bg1 : RandomColor(rng);
  const int noise = Range(rng, 0, 24);
  const Rgb fg = ContrastingColor(rng, bg1, bg2);
  Shape shape;
  shape.label = label;
  const int r = Range(rng, 9, 22);
  shape.r2 = 2 * r;
  shape.cx2 = 2 * Range(rng, r + 1, kSize - r - 1);
  shape.cy2 = 2 * Range(rng, r + 1, kSize - r - 1);
  shape.flip = Range(rng, 0, 3) == 0;

  Image image;
  image.Reset(kSize, kSize, 3, 8);
  for (int y = 0; y < kSize; ++y) {
    uint8_t* row = image.row(y);
    for (int x = 0; x < kSize; ++x) {
      const int t = gradient == 1 ? x : gradient == 2 ? y : 0;  // 0..kSize-1
      Rgb c = {bg1.r + (bg2.r - bg1.r) * t / (kSize - 1), bg1.g + (bg2.g - bg1.g) * t / (kSize - 1),
               bg1.b + (bg2.b - bg1.b) * t / (kSize - 1)};
      if (Inside(shape, 2 * x + 1, 2 * y + 1)) c = fg;
      row[3 * x + 0] = Clamp(c.r + Range(rng, -noise, noise));
      row[3 * x + 1] = Clamp(c.g + Range(rng, -noise, noise));
      row[3 * x + 2] = Clamp(c.b + Range(rng, -noise, noise));
    }
  }
  if (!IsGray(index)) return image;
  Image gray;
  gray.Reset(kSize, kSize, 1, 8);
  for (int i = 0; i < kSize * kSize; ++i) {
    const uint8_t* p = &image.data[3 * i];
    gray.data[i] = static_cast<uint8_t>(Luma({p[0], p[1], p[2]}));
  }
  return gray;
}

std::string DemoImagePath(int label, int index) {
  const char* name = kDemoClassNames[label];
  return absl::StrFormat("%s/%s_%03d.%s", name, name, index, IsPng(index) ? "png" : "jpg");
}

absl::Status GenerateDemoDataset(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("cannot generate the demo dataset: '", dir, "' exists"));
  }
  for (int label = 0; label < kDemoNumClasses; ++label) {
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(dir, "/", kDemoClassNames[label])));
    for (int index = 0; index < kDemoImagesPerClass; ++index) {
      const std::string path = absl::StrCat(dir, "/", DemoImagePath(label, index));
      Image image = RenderDemoImage(label, index);
      absl::StatusOr<std::string> encoded =
          IsPng(index) ? EncodePng(image) : EncodeJpeg(image, kJpegQuality);
      if (!encoded.ok()) return WithContext(encoded.status(), path);
      RETURN_IF_ERROR(WriteFileAtomically(path, *encoded));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnsureDemoDataset(const std::string& cache_dir) {
  const std::string final_dir = absl::StrCat(cache_dir, "/", kDemoDirName);
  struct stat st;
  if (lstat(final_dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return final_dir;
    return absl::FailedPreconditionError(
        absl::StrCat("'", final_dir,
                     "' exists but is not a directory; remove it to regenerate the demo dataset"));
  }
  RETURN_IF_ERROR(MakeDirs(cache_dir));
  // Generate below a private temporary directory, then publish with one
  // rename(): readers see either no dataset or a complete one.
  std::string tmp = absl::StrCat(cache_dir, "/.", kDemoDirName, ".tmp-XXXXXX");
  if (mkdtemp(tmp.data()) == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot create a temporary directory in '",
                                               cache_dir, "': ", std::strerror(errno)));
  }
  const std::string staged = absl::StrCat(tmp, "/", kDemoDirName);
  absl::Status status = GenerateDemoDataset(staged);
  if (status.ok() && rename(staged.c_str(), final_dir.c_str()) != 0) {
    const int err = errno;
    // Another process published first (rename onto a non-empty directory
    // fails): use theirs, which is identical.
    if (!((err == EEXIST || err == ENOTEMPTY) && lstat(final_dir.c_str(), &st) == 0 &&
          S_ISDIR(st.st_mode))) {
      status = absl::UnavailableError(
          absl::StrCat("cannot rename '", staged, "' to '", final_dir, "': ", std::strerror(err)));
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);  // best effort; holds at most our staged copy
  if (!status.ok()) return WithContext(status, "generating the demo dataset");
  return final_dir;
}

}  // namespace imagefeed
