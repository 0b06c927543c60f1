#include "common/test_support.h"

#include <random>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/file_util.h"

namespace imagefeed {

ScopedTempDir::ScopedTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && tmp[0] ? tmp : "/tmp") + "/imagefeed-test-XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) std::abort();  // test infrastructure invariant
  path_ = made;
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteTestFile(const std::string& path, const std::string& data) {
  std::string dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) ASSERT_OK(MakeDirs(dir));
  ASSERT_OK(WriteFileAtomically(path, data));
}

YccImage MakeNoiseYccImage(int width, int height, int v_sub, int row_padding, int extra_rows, uint32_t seed) {
  YccImage img;
  img.width = width;
  img.height = height;
  img.h_sub = 2;
  img.v_sub = v_sub;
  const int cw = (width + 1) / 2, ch = (height + v_sub - 1) / v_sub;
  const int widths[3] = {width, cw, cw}, heights[3] = {height, ch, ch};
  size_t at = 0;
  for (int p = 0; p < 3; ++p) {
    img.planes[p] = YccImage::Plane{at, static_cast<size_t>(widths[p] + row_padding), widths[p], heights[p]};
    at += img.planes[p].stride * static_cast<size_t>(heights[p] + extra_rows);
  }
  img.data.resize(at);
  std::mt19937 rng(seed);
  for (uint8_t& v : img.data) v = static_cast<uint8_t>(rng());
  return img;
}

Image MakeGradientImage(int width, int height, int channels, int bit_depth) {
  Image img;
  img.Reset(width, height, channels, bit_depth);
  int max = bit_depth == 16 ? 65535 : 255;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        int64_t v = (int64_t{x} * (c + 1) * 37 + int64_t{y} * (3 - c % 3) * 53 + c * 101) *
                    (bit_depth == 16 ? 257 : 1);
        int value = static_cast<int>(v % (max + 1));
        size_t idx = (static_cast<size_t>(y) * width + x) * channels + c;
        if (bit_depth == 16) {
          reinterpret_cast<uint16_t*>(img.data.data())[idx] = static_cast<uint16_t>(value);
        } else {
          img.data[idx] = static_cast<uint8_t>(value);
        }
      }
    }
  }
  return img;
}

std::string SharedDir() {
  const char* env = std::getenv("IMAGEFEED_SHARED_DIR");
  std::string dir = env != nullptr ? env : "";
  struct stat st;
  if (!dir.empty() && stat((dir + "/corpora").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return dir;
  return "";
}

}  // namespace imagefeed
