// Checks that ImageHeader::decoder_scratch_bytes of a WebP bounds the heap
// libwebp really uses while decoding, by counting every malloc of the
// process (this binary replaces malloc/calloc/realloc/free, so it is its
// own test binary). Skipped under sanitizers, which own malloc.
#include <malloc.h>
#include <webp/encode.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"
#include "server/decode/webp_decoder.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IMAGEFEED_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define IMAGEFEED_SANITIZED 1
#endif
#endif

#ifndef IMAGEFEED_SANITIZED
extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
extern "C" void __libc_free(void*);

namespace {
// Single-threaded test: plain counters.
size_t live_bytes = 0;
size_t peak_bytes = 0;
void Count(void* p) {
  if (p == nullptr) return;
  live_bytes += malloc_usable_size(p);
  if (live_bytes > peak_bytes) peak_bytes = live_bytes;
}
void Uncount(void* p) {
  if (p != nullptr) live_bytes -= malloc_usable_size(p);
}
}  // namespace

extern "C" void* malloc(size_t n) {
  void* p = __libc_malloc(n);
  Count(p);
  return p;
}
extern "C" void* calloc(size_t n, size_t size) {
  void* p = __libc_calloc(n, size);
  Count(p);
  return p;
}
extern "C" void* realloc(void* old, size_t n) {
  Uncount(old);
  void* p = __libc_realloc(old, n);
  Count(p == nullptr && n != 0 ? old : p);  // a failed realloc keeps `old`
  return p;
}
extern "C" void free(void* p) {
  Uncount(p);
  __libc_free(p);
}
#endif

namespace imagefeed {
namespace {

#ifdef IMAGEFEED_SANITIZED
TEST(WebpMemoryTest, ScratchEstimateBoundsLibwebpsPeakHeap) {
  GTEST_SKIP() << "sanitizer builds own malloc; the Release build runs this test";
}
#else
using decode_test::AsBytes;

// A noisy gradient: photo-like, so the lossless encoder uses many prefix-code groups.
std::vector<uint8_t> Photo(int w, int h, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * channels];
      const int noise = static_cast<int>(rng() % 41) - 20;
      p[0] = static_cast<uint8_t>(std::clamp(x * 255 / w + noise, 0, 255));
      p[1] = static_cast<uint8_t>(std::clamp(y * 255 / h - noise, 0, 255));
      p[2] = static_cast<uint8_t>((x + y + noise) & 0xFF);
      if (channels == 4) p[3] = static_cast<uint8_t>(rng());
    }
  }
  return px;
}

std::string Encode(const std::vector<uint8_t>& px, int w, int h, int channels, bool lossless) {
  WebPConfig config;
  WebPPicture picture;
  EXPECT_TRUE(WebPConfigInit(&config) && WebPPictureInit(&picture));
  config.lossless = lossless ? 1 : 0;
  config.method = 4;  // at 640x480, as many entropy-image blocks (1200) as method 6, faster
  config.quality = lossless ? 50 : 80;
  picture.use_argb = 1;
  picture.width = w;
  picture.height = h;
  WebPMemoryWriter writer;
  WebPMemoryWriterInit(&writer);
  picture.writer = WebPMemoryWrite;
  picture.custom_ptr = &writer;
  EXPECT_TRUE(channels == 4 ? WebPPictureImportRGBA(&picture, px.data(), w * 4)
                            : WebPPictureImportRGB(&picture, px.data(), w * 3));
  EXPECT_TRUE(WebPEncode(&config, &picture)) << picture.error_code;
  std::string file(reinterpret_cast<const char*>(writer.mem), writer.size);
  WebPPictureFree(&picture);
  WebPMemoryWriterClear(&writer);
  return file;
}

TEST(WebpMemoryTest, ScratchEstimateBoundsLibwebpsPeakHeap) {
  struct Case {
    const char* name;
    int w, h, channels;
    bool lossless;
  };
  for (const Case& c : {Case{"lossless", 640, 480, 3, true}, Case{"lossless+alpha", 640, 480, 4, true},
                        Case{"lossy", 640, 480, 3, false}, Case{"lossy+alpha", 640, 480, 4, false},
                        Case{"lossless small", 64, 48, 3, true}}) {
    const std::string file = Encode(Photo(c.w, c.h, c.channels, 5), c.w, c.h, c.channels, c.lossless);
    ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekWebp(AsBytes(file), {}));
    Image image;
    image.data.reserve(header.decoded_bytes());  // the Image is accounted separately
    const size_t before = live_bytes;
    peak_bytes = live_bytes;
    ASSERT_OK(DecodeWebp(AsBytes(file), {}, &image));
    const size_t used = peak_bytes - before;
    std::printf("%s %dx%d (%zu bytes): libwebp peak %zu bytes, estimate %zu\n", c.name, c.w, c.h, file.size(), used,
                header.decoder_scratch_bytes);
    EXPECT_LE(used, header.decoder_scratch_bytes) << c.name;
    EXPECT_EQ(live_bytes, before) << c.name << ": the decoder leaked";
  }
}
#endif

}  // namespace
}  // namespace imagefeed
