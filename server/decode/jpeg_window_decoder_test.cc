#include "server/decode/jpeg_window_decoder.h"

#include <turbojpeg.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/image_encoders.h"
#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"
#include "server/decode/jpeg_decoder.h"

namespace imagefeed {
namespace {

using decode_test::AsBytes;
using decode_test::EncodeCmyk;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// Noise, so that every chroma sample differs from its neighbours and an
// upsampling edge that differs from the full decode shows.
Image NoiseImage(int width, int height, int channels, uint32_t seed) {
  Image image;
  image.Reset(width, height, channels, 8);
  std::mt19937 rng(seed);
  for (uint8_t& v : image.data) v = static_cast<uint8_t>(rng());
  return image;
}

std::string Jpeg(const Image& image, ChromaSubsampling sampling, bool progressive = false) {
  absl::StatusOr<std::string> jpeg = EncodeJpeg(image, 90, sampling, progressive);
  EXPECT_OK(jpeg);
  return jpeg.ok() ? *jpeg : "";
}

// The independent reference: libjpeg-turbo's whole-image decode through
// TurboJPEG (at `denom` via its scaling factors), as gray/RGB/CMYK->RGB.
Image ReferenceDecode(const std::string& jpeg, int denom = 1) {
  tjhandle tj = tjInitDecompress();
  int width = 0, height = 0, sampling = 0, colorspace = 0;
  tjDecompressHeader3(tj, AsBytes(jpeg).data(), jpeg.size(), &width, &height, &sampling, &colorspace);
  const int w = (width + denom - 1) / denom, h = (height + denom - 1) / denom;
  const bool gray = colorspace == TJCS_GRAY, cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * (cmyk ? 4 : gray ? 1 : 3));
  EXPECT_EQ(tjDecompress2(tj, AsBytes(jpeg).data(), jpeg.size(), pixels.data(), w, 0, h,
                          cmyk ? TJPF_CMYK : gray ? TJPF_GRAY : TJPF_RGB, 0),
            0)
      << tjGetErrorStr2(tj);
  tjDestroy(tj);
  Image out;
  out.Reset(w, h, gray ? 1 : 3, 8);
  if (!cmyk) {
    out.data = pixels;
    return out;
  }
  for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {  // round(C*K/255), as djpeg and Pillow
    for (int c = 0; c < 3; ++c) {
      out.data[i * 3 + c] = static_cast<uint8_t>((pixels[i * 4 + c] * pixels[i * 4 + 3] + 127) / 255);
    }
  }
  return out;
}

struct WindowResult {
  Image image;
  PixelRect rect;
};

absl::StatusOr<WindowResult> DecodeWindow(const std::string& jpeg, const PixelRect& window, int denom = 1) {
  absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(jpeg), DecodeOptions{});
  if (!header.ok()) return header.status();
  WindowResult r;
  absl::Status s = DecodeJpegWindow(AsBytes(jpeg), *header, window, denom, &r.image, &r.rect);
  if (!s.ok()) return s;
  return r;
}

// Number of samples of `rect` in `got` that differ from the same region
// (at `at` in `ref`), and the largest difference.
struct Diff {
  int differing = 0;
  int max_abs = 0;
};
Diff CompareRegion(const Image& got, const PixelRect& rect, const Image& ref, int ref_x, int ref_y) {
  Diff d;
  const int c = ref.channels;
  for (int y = 0; y < rect.height; ++y) {
    const uint8_t* g = got.row(rect.y + y) + static_cast<size_t>(rect.x) * c;
    const uint8_t* r = ref.row(ref_y + y) + static_cast<size_t>(ref_x) * c;
    for (int i = 0; i < rect.width * c; ++i) {
      const int a = std::abs(int{g[i]} - int{r[i]});
      d.differing += a != 0;
      d.max_abs = std::max(d.max_abs, a);
    }
  }
  return d;
}

// Checks windows starting at every column and at rows around every iMCU
// boundary, 1 pixel up to the rest of the image wide and high, against the
// whole decode: bit for bit.
void ExpectEveryWindowExact(const std::string& jpeg, const std::string& what) {
  const Image ref = ReferenceDecode(jpeg);
  ASSERT_GT(ref.width, 0) << what;
  std::vector<int> ys;
  for (int y = 0; y < ref.height; ++y) {
    if (y % 8 <= 1 || y % 8 == 7 || y == ref.height - 1) ys.push_back(y);
  }
  int windows = 0;
  for (int x = 0; x < ref.width; ++x) {
    for (int y : ys) {
      for (int w : {1, 2, 9, 33, ref.width - x}) {
        for (int h : {1, 3, 17, ref.height - y}) {
          if (w > ref.width - x || h > ref.height - y) continue;
          const PixelRect window{x, y, w, h};
          absl::StatusOr<WindowResult> got = DecodeWindow(jpeg, window);
          ASSERT_OK(got);
          ASSERT_EQ(got->rect.width, w);
          ASSERT_EQ(got->rect.height, h);
          ASSERT_EQ(got->image.channels, ref.channels);
          const Diff d = CompareRegion(got->image, got->rect, ref, x, y);
          ASSERT_EQ(d.differing, 0) << what << " window " << w << "x" << h << "+" << x << "+" << y
                                    << " max diff " << d.max_abs;
          ++windows;
        }
      }
    }
  }
  EXPECT_GT(windows, 1000) << what;
}

TEST(JpegWindowDecoderTest, EveryWindowOfEverySamplingEqualsTheFullDecode) {
  const Image rgb = NoiseImage(77, 45, 3, 1);
  ExpectEveryWindowExact(Jpeg(rgb, ChromaSubsampling::k444), "4:4:4");
  ExpectEveryWindowExact(Jpeg(rgb, ChromaSubsampling::k422), "4:2:2");
  ExpectEveryWindowExact(Jpeg(rgb, ChromaSubsampling::k420), "4:2:0");
  ExpectEveryWindowExact(Jpeg(rgb, ChromaSubsampling::k420, /*progressive=*/true), "progressive 4:2:0");
  ExpectEveryWindowExact(Jpeg(NoiseImage(77, 45, 1, 2), ChromaSubsampling::k444), "gray");
}

TEST(JpegWindowDecoderTest, CmykWindowsEqualTheFullDecode) {
  const Image cmyk = NoiseImage(40, 24, 4, 3);
  const std::string jpeg = EncodeCmyk(cmyk.data, cmyk.width, cmyk.height);
  ASSERT_FALSE(jpeg.empty());
  ExpectEveryWindowExact(jpeg, "cmyk");
}

// libjpeg-turbo's own test images (shared/corpora/jpeg): baseline 4:2:0,
// arithmetic-coded, progressive, grayscale, CMYK; each `ok` row of the
// manifest whose file is an 8-bit JPEG.
TEST(JpegWindowDecoderTest, CorpusWindowsEqualTheFullDecode) {
  const std::string shared = SharedDir();
  if (shared.empty()) GTEST_SKIP() << "set IMAGEFEED_SHARED_DIR to the directory holding corpora/";
  int files = 0;
  for (const char* name : {"testorig.jpg", "testimgari.jpg", "testimgint.jpg", "derived_testorig_progressive.jpg",
                           "derived_testorig_gray.jpg", "derived_testorig_cmyk.jpg"}) {
    std::vector<uint8_t> bytes;
    ASSERT_OK(ReadFileToBuffer(shared + "/corpora/jpeg/" + name, &bytes));
    const std::string jpeg(bytes.begin(), bytes.end());
    const Image ref = ReferenceDecode(jpeg);
    for (int x : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 200, ref.width - 1}) {
      for (int y : {0, 1, 8, 15, 16, 17, 70, ref.height - 1}) {
        for (int w : {1, 5, 64, ref.width - x}) {
          const int h = std::min(w, ref.height - y);
          if (w > ref.width - x) continue;
          absl::StatusOr<WindowResult> got = DecodeWindow(jpeg, PixelRect{x, y, w, h});
          ASSERT_OK(got) << name;
          EXPECT_EQ(CompareRegion(got->image, got->rect, ref, x, y).differing, 0)
              << name << " window " << w << "x" << h << "+" << x << "+" << y;
        }
      }
    }
    ++files;
  }
  EXPECT_EQ(files, 6);
}

// DCT scaling: the window of a 1/2, 1/4, 1/8 decode equals the same
// region of libjpeg-turbo's whole scaled decode bit for bit; its edges are
// the window's divided by the scale and rounded.
TEST(JpegWindowDecoderTest, ScaledWindowsEqualTheWholeScaledDecode) {
  const Image rgb = NoiseImage(203, 141, 3, 4);
  for (ChromaSubsampling sampling : {ChromaSubsampling::k444, ChromaSubsampling::k420}) {
    const std::string jpeg = Jpeg(rgb, sampling);
    for (int denom : {2, 4, 8}) {
      const Image ref = ReferenceDecode(jpeg, denom);
      for (const PixelRect& window : {PixelRect{0, 0, 203, 141}, PixelRect{17, 9, 120, 100},
                                      PixelRect{64, 32, 64, 32}, PixelRect{201, 139, 2, 2}, PixelRect{5, 3, 1, 1}}) {
        absl::StatusOr<WindowResult> got = DecodeWindow(jpeg, window, denom);
        ASSERT_OK(got);
        auto round_div = [&](int v) { return (2 * v + denom) / (2 * denom); };
        // A window that rounds to nothing keeps one pixel, ending at its rounded end.
        const int x1 = std::clamp(round_div(window.x + window.width), 1, ref.width);
        const int y1 = std::clamp(round_div(window.y + window.height), 1, ref.height);
        const int x0 = std::min(round_div(window.x), x1 - 1);
        const int y0 = std::min(round_div(window.y), y1 - 1);
        EXPECT_EQ(got->rect.width, x1 - x0) << denom;
        EXPECT_EQ(got->rect.height, y1 - y0) << denom;
        EXPECT_EQ(CompareRegion(got->image, got->rect, ref, x0, y0).differing, 0)
            << "1/" << denom << " window " << window.width << "x" << window.height << "+" << window.x << "+"
            << window.y;
      }
    }
  }
}

// DecodeJpegYcc's planes against TurboJPEG's own YUV decode
// (tjDecompressToYUVPlanes: the same IDCT, no upsampling, no colour
// conversion), sample for sample over each plane's valid area.
void ExpectPlanesEqualTurboJpeg(const std::string& jpeg, const std::string& name) {
  absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(jpeg), DecodeOptions{});
  ASSERT_OK(header);
  YccImage ycc;
  absl::StatusOr<bool> decoded = DecodeJpegYcc(AsBytes(jpeg), *header, header->decoded_bytes(), &ycc);
  ASSERT_OK(decoded);
  ASSERT_TRUE(*decoded) << name;
  ASSERT_LE(ycc.data.size(), header->decoded_bytes()) << name;
  tjhandle tj = tjInitDecompress();
  ASSERT_NE(tj, nullptr);
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  ASSERT_EQ(tjDecompressHeader3(tj, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size(), &width,
                                &height, &subsamp, &colorspace), 0);
  EXPECT_EQ(ycc.width, width);
  EXPECT_EQ(ycc.height, height);
  EXPECT_EQ(ycc.h_sub, tjMCUWidth[subsamp] / 8) << name;
  EXPECT_EQ(ycc.v_sub, tjMCUHeight[subsamp] / 8) << name;
  std::vector<std::vector<unsigned char>> planes(3);
  unsigned char* dst[3];
  int strides[3];
  for (int p = 0; p < 3; ++p) {
    strides[p] = tjPlaneWidth(p, width, subsamp);
    planes[p].resize(static_cast<size_t>(strides[p]) * tjPlaneHeight(p, height, subsamp));
    dst[p] = planes[p].data();
  }
  ASSERT_EQ(tjDecompressToYUVPlanes(tj, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size(), dst,
                                    width, strides, height, TJFLAG_ACCURATEDCT),
            0)
      << tjGetErrorStr2(tj);
  tjDestroy(tj);
  for (int p = 0; p < 3; ++p) {
    const YccImage::Plane& plane = ycc.planes[p];
    EXPECT_EQ(plane.width, (p == 0 ? width : (width + 1) / 2)) << name;
    EXPECT_EQ(plane.height, (p == 0 || ycc.v_sub == 1 ? height : (height + 1) / 2)) << name;
    for (int y = 0; y < plane.height; ++y) {
      ASSERT_TRUE(std::equal(ycc.row(p, y), ycc.row(p, y) + plane.width,
                             planes[p].data() + static_cast<size_t>(strides[p]) * y))
          << name << ", plane " << p << ", row " << y;
    }
  }
}

TEST(JpegWindowDecoderTest, YccPlanesEqualTurboJpegsYuvDecode) {
  for (ChromaSubsampling sampling : {ChromaSubsampling::k420, ChromaSubsampling::k422}) {
    for (bool progressive : {false, true}) {
      for (auto [w, h] : std::vector<std::pair<int, int>>{{64, 48}, {97, 61}, {1, 1}, {333, 17}}) {
        const std::string name = std::to_string(w) + "x" + std::to_string(h) +
                                 (sampling == ChromaSubsampling::k420 ? " 4:2:0" : " 4:2:2") +
                                 (progressive ? " progressive" : "");
        const std::string jpeg = Jpeg(NoiseImage(w, h, 3, 3), sampling, progressive);
        if (w * h < 64) {  // whole 16 x 16 MCUs do not fit in 3 bytes a pixel: declined
          absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(jpeg), DecodeOptions{});
          ASSERT_OK(header);
          YccImage ycc;
          absl::StatusOr<bool> decoded = DecodeJpegYcc(AsBytes(jpeg), *header, header->decoded_bytes(), &ycc);
          ASSERT_OK(decoded);
          EXPECT_FALSE(*decoded) << name;
          EXPECT_TRUE(ycc.data.empty()) << name;
          continue;
        }
        ExpectPlanesEqualTurboJpeg(jpeg, name);
      }
    }
  }
  if (!SharedDir().empty()) {
    std::vector<uint8_t> bytes;
    ASSERT_OK(ReadFileToBuffer(SharedDir() + "/corpora/jpeg/testorig.jpg", &bytes));
    ExpectPlanesEqualTurboJpeg(std::string(bytes.begin(), bytes.end()), "testorig.jpg");
  }
}

TEST(JpegWindowDecoderTest, YccDeclinesOtherJpegsAndFailsOnDamage) {
  std::vector<uint8_t> cmyk(64 * 48 * 4, 100);
  // 4:4:4, gray, CMYK, and chroma 2 samples wide (libjpeg replicates such
  // chroma instead of interpolating it, which the resize does not model).
  for (const std::string& jpeg : {Jpeg(NoiseImage(64, 48, 3, 4), ChromaSubsampling::k444),
                                  Jpeg(NoiseImage(64, 48, 1, 5), ChromaSubsampling::k420), EncodeCmyk(cmyk, 64, 48),
                                  Jpeg(NoiseImage(4, 48, 3, 7), ChromaSubsampling::k420)}) {
    absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(jpeg), DecodeOptions{});
    ASSERT_OK(header);
    YccImage ycc;
    absl::StatusOr<bool> decoded = DecodeJpegYcc(AsBytes(jpeg), *header, size_t{1} << 20, &ycc);
    ASSERT_OK(decoded);
    EXPECT_FALSE(*decoded);
  }
  const std::string jpeg = Jpeg(NoiseImage(64, 48, 3, 6), ChromaSubsampling::k420);
  absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(jpeg), DecodeOptions{});
  ASSERT_OK(header);
  YccImage ycc;
  // Planes larger than allowed: declined before anything is allocated.
  absl::StatusOr<bool> small = DecodeJpegYcc(AsBytes(jpeg), *header, 64 * 48, &ycc);
  ASSERT_OK(small);
  EXPECT_FALSE(*small);
  EXPECT_EQ(ycc.data.capacity(), 0u);
  const std::string truncated = jpeg.substr(0, jpeg.size() / 2);
  EXPECT_THAT(DecodeJpegYcc(AsBytes(truncated), *header, size_t{1} << 20, &ycc).status(),
              StatusIs(kInvalid, "JPEG data corrupt or truncated: Premature end of JPEG file"));
  // The thread's decompressor is usable again afterwards.
  absl::StatusOr<bool> again = DecodeJpegYcc(AsBytes(jpeg), *header, size_t{1} << 20, &ycc);
  ASSERT_OK(again);
  EXPECT_TRUE(*again);
}

TEST(JpegWindowDecoderTest, WindowsOutsideTheImageAndBadScalesAreRefused) {
  const std::string jpeg = Jpeg(NoiseImage(32, 16, 3, 5), ChromaSubsampling::k420);
  for (const PixelRect& bad : {PixelRect{0, 0, 0, 1}, PixelRect{0, 0, 1, 0}, PixelRect{-1, 0, 2, 2},
                               PixelRect{0, -1, 2, 2}, PixelRect{31, 0, 2, 1}, PixelRect{0, 15, 1, 2},
                               PixelRect{0, 0, 33, 16}, PixelRect{2147483647, 0, 1, 1}}) {
    EXPECT_EQ(DecodeWindow(jpeg, bad).status().code(), kInvalid) << bad.x << "," << bad.y;
  }
  EXPECT_EQ(DecodeWindow(jpeg, PixelRect{0, 0, 4, 4}, 3).status().code(), kInvalid);
  // The decoder stays usable after refusals.
  EXPECT_OK(DecodeWindow(jpeg, PixelRect{0, 0, 4, 4}));
}

// Data is read up to the window's last row only: damage inside it fails
// (a libjpeg warning is an error, as in DecodeJpeg), damage below does not.
TEST(JpegWindowDecoderTest, TruncationInsideTheWindowFailsAndBelowItIsNotRead) {
  const std::string jpeg = Jpeg(NoiseImage(64, 256, 3, 6), ChromaSubsampling::k420);
  const std::string cut = jpeg.substr(0, jpeg.size() / 2);  // about row 128
  absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(cut), DecodeOptions{});
  ASSERT_OK(header);
  Image out;
  PixelRect rect;
  EXPECT_EQ(DecodeJpegWindow(AsBytes(cut), *header, PixelRect{0, 200, 64, 40}, 1, &out, &rect).code(), kInvalid);
  ASSERT_OK(DecodeJpegWindow(AsBytes(cut), *header, PixelRect{0, 16, 64, 40}, 1, &out, &rect));
  const Image ref = ReferenceDecode(jpeg);
  EXPECT_EQ(CompareRegion(out, rect, ref, 0, 16).differing, 0);
  // After the failure the thread's decompressor still decodes whole files.
  ASSERT_OK(DecodeJpegWindow(AsBytes(jpeg), *header, PixelRect{3, 3, 50, 250}, 1, &out, &rect));
  EXPECT_EQ(CompareRegion(out, rect, ref, 3, 3).differing, 0);
}

// The decoded buffer is the window's (iMCU-aligned), not the image's, and
// within the bound callers reserve.
TEST(JpegWindowDecoderTest, DecodesOnlyAboutTheWindowWithinTheReservedBound) {
  const std::string jpeg = Jpeg(NoiseImage(640, 480, 3, 7), ChromaSubsampling::k420);
  absl::StatusOr<ImageHeader> header = PeekJpeg(AsBytes(jpeg), DecodeOptions{});
  ASSERT_OK(header);
  for (int denom : {1, 2, 4, 8}) {
    for (const PixelRect& window : {PixelRect{301, 203, 100, 50}, PixelRect{0, 0, 640, 480},
                                    PixelRect{639, 479, 1, 1}, PixelRect{16, 16, 16, 16}}) {
      Image out;  // fresh: its capacity is what this decode allocated
      PixelRect rect;
      ASSERT_OK(DecodeJpegWindow(AsBytes(jpeg), *header, window, denom, &out, &rect));
      EXPECT_LE(out.data.capacity(), JpegWindowBytes(*header, window, denom)) << denom;
      EXPECT_LE(out.width, window.width / denom + 32 + 4) << denom;
      EXPECT_LE(out.height, window.height / denom + 2) << denom;
    }
  }
}

}  // namespace
}  // namespace imagefeed
