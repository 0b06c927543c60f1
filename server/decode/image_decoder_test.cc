#include "server/decode/image_decoder.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/image_encoders.h"
#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"
#include "server/decode/jpeg_decoder.h"

namespace imagefeed {
namespace {

using decode_test::AsBytes;
using decode_test::MakeExifPayload;
using decode_test::ReferenceOrient;
using decode_test::SameImage;
using decode_test::WithApp1;
using decode_test::WithPngSize;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr char kNotAnImage[] = "not a JPEG or PNG file";

std::string Jpeg(const Image& image) {
  absl::StatusOr<std::string> jpeg = EncodeJpeg(image, 90, ChromaSubsampling::k420);
  EXPECT_OK(jpeg);
  return jpeg.ok() ? *jpeg : "";
}

std::string Png(const Image& image) {
  absl::StatusOr<std::string> png = EncodePng(image);
  EXPECT_OK(png);
  return png.ok() ? *png : "";
}

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

absl::StatusOr<Image> Decode(const std::string& bytes, DecodeOptions options = {}) {
  Image image;
  absl::Status status = DecodeImage(AsBytes(bytes), options, &image);
  if (!status.ok()) return status;
  return image;
}

TEST(SniffFormatTest, RecognizesMagicBytesOnly) {
  ASSERT_OK_AND_ASSIGN(ImageFormat jpeg, SniffFormat(AsBytes(Jpeg(MakeGradientImage(8, 8, 3)))));
  EXPECT_EQ(jpeg, ImageFormat::kJpeg);
  ASSERT_OK_AND_ASSIGN(ImageFormat png, SniffFormat(AsBytes(Png(MakeGradientImage(8, 8, 3)))));
  EXPECT_EQ(png, ImageFormat::kPng);
  EXPECT_THAT(SniffFormat(AsBytes("")), StatusIs(kInvalid, "not a JPEG or PNG file, nor WebP, BMP or PGM/PPM (empty input)"));
  EXPECT_THAT(SniffFormat(AsBytes("GIF89a....")),
              StatusIs(kInvalid, "not a JPEG or PNG file, nor WebP, BMP or PGM/PPM (10 bytes starting with 47 49 46 38)"));
  EXPECT_THAT(SniffFormat(AsBytes("\xFF\xD8")), StatusIs(kInvalid, kNotAnImage));
  EXPECT_THAT(SniffFormat(AsBytes("\x89PNG\r\n\x1a")), StatusIs(kInvalid, kNotAnImage));
}

// Magic bytes decide, never the extension; TIFF is recognized only to be
// refused by name, so that a .tif file fails as a sample (ids never shift).
TEST(SniffFormatTest, RecognizesTheOtherTorchvisionFormats) {
  const std::string riff_webp("RIFF\x10\x00\x00\x00WEBPVP8L", 16);
  EXPECT_EQ(SniffFormat(AsBytes(riff_webp)).value_or(ImageFormat::kJpeg), ImageFormat::kWebp);
  EXPECT_THAT(SniffFormat(AsBytes("RIFF\x10\x00\x00\x00WAVEfmt ")), StatusIs(kInvalid, kNotAnImage));
  EXPECT_EQ(SniffFormat(AsBytes("BM")).value_or(ImageFormat::kJpeg), ImageFormat::kBmp);
  EXPECT_EQ(SniffFormat(AsBytes("P6\n")).value_or(ImageFormat::kJpeg), ImageFormat::kPnm);
  EXPECT_EQ(SniffFormat(AsBytes("P2 ")).value_or(ImageFormat::kJpeg), ImageFormat::kPnm);
  EXPECT_THAT(SniffFormat(AsBytes("P6x")), StatusIs(kInvalid, kNotAnImage));
  EXPECT_THAT(SniffFormat(AsBytes("P8 ")), StatusIs(kInvalid, kNotAnImage));
  for (const std::string& tiff : {std::string("II*\0", 4), std::string("MM\0*", 4), std::string("II+\0", 4)}) {
    EXPECT_EQ(SniffFormat(AsBytes(tiff)).value_or(ImageFormat::kJpeg), ImageFormat::kTiff);
    EXPECT_THAT(PeekImageHeader(AsBytes(tiff), {}).status(), StatusIs(kInvalid, "unsupported format: TIFF"));
    Image image;
    EXPECT_THAT(DecodeImage(AsBytes(tiff), {}, &image), StatusIs(kInvalid, "unsupported format: TIFF"));
  }
  EXPECT_STREQ(ImageFormatName(ImageFormat::kWebp), "WebP");
  EXPECT_STREQ(ImageFormatName(ImageFormat::kTiff), "TIFF");
}

TEST(DecodeImageTest, DispatchesBmpAndPnmByContent) {
  // A 1x1 PGM saved as ".jpg" is still a PGM.
  ASSERT_OK_AND_ASSIGN(ImageHeader pgm, PeekImageHeader(AsBytes("P5 1 1 255\n\x7f"), {}));
  EXPECT_EQ(pgm.format, ImageFormat::kPnm);
  EXPECT_EQ(pgm.channels, 1);
  ASSERT_OK_AND_ASSIGN(Image image, Decode("P5 1 1 255\n\x7f"));
  EXPECT_EQ(image.data[0], 0x7f);
  EXPECT_THAT(Decode("BM").status(), StatusIs(kInvalid, "not a BMP file"));
}

TEST(PeekImageHeaderTest, ReadsBothFormatsAndChecksTheCap) {
  const std::string jpeg_file = Jpeg(MakeGradientImage(30, 20, 3));
  const std::string png_file = Png(MakeGradientImage(7, 9, 1));
  ASSERT_OK_AND_ASSIGN(ImageHeader jpeg, PeekImageHeader(AsBytes(jpeg_file), {}));
  EXPECT_EQ(jpeg.format, ImageFormat::kJpeg);
  EXPECT_EQ(jpeg.width, 30);
  EXPECT_EQ(jpeg.height, 20);
  ASSERT_OK_AND_ASSIGN(ImageHeader png, PeekImageHeader(AsBytes(png_file), {}));
  EXPECT_EQ(png.format, ImageFormat::kPng);
  EXPECT_EQ(png.width, 7);
  EXPECT_EQ(png.height, 9);
  DecodeOptions tight;
  tight.max_pixels = 62;
  EXPECT_THAT(PeekImageHeader(AsBytes(png_file), tight),
              StatusIs(kInvalid, "7x9 = 63 pixels, more than the cap of 62"));
  EXPECT_THAT(PeekImageHeader(AsBytes(""), {}), StatusIs(kInvalid, kNotAnImage));
}

TEST(DecodeImageTest, DispatchesOnContentNotName) {
  const Image source = MakeGradientImage(30, 20, 3);
  ASSERT_OK_AND_ASSIGN(Image png, Decode(Png(source)));
  EXPECT_TRUE(SameImage(png, source));
  const std::string jpeg = Jpeg(source);
  ASSERT_OK_AND_ASSIGN(Image via_dispatch, Decode(jpeg));
  Image direct;
  ASSERT_OK(DecodeJpeg(AsBytes(jpeg), {}, &direct));
  EXPECT_TRUE(SameImage(via_dispatch, direct));
  EXPECT_EQ(via_dispatch.width, 30);
}

TEST(DecodeImageTest, AppliesExifOrientationByDefaultOnly) {
  const std::string plain = Jpeg(MakeGradientImage(40, 24, 3));
  ASSERT_OK_AND_ASSIGN(Image upright, Decode(plain));
  const std::string rotated = WithApp1(plain, MakeExifPayload(6, false));
  ASSERT_OK_AND_ASSIGN(Image image, Decode(rotated));
  EXPECT_TRUE(SameImage(image, ReferenceOrient(upright, 6)));
  DecodeOptions keep;
  keep.apply_exif_orientation = false;
  ASSERT_OK_AND_ASSIGN(Image stored, Decode(rotated, keep));
  EXPECT_TRUE(SameImage(stored, upright));
}

TEST(DecodeImageTest, RandomBytesAndEmptyInputAreNotImages) {
  EXPECT_THAT(Decode(""), StatusIs(kInvalid, kNotAnImage));
  int rejected = 0;
  for (uint32_t seed = 0; seed < 200; ++seed) {
    const std::string bytes = RandomBytes(1 + seed * 7, seed);
    absl::StatusOr<Image> image = Decode(bytes);
    EXPECT_FALSE(image.ok()) << "seed " << seed;
    rejected += image.status().code() == kInvalid;
  }
  EXPECT_EQ(rejected, 200);
}

TEST(DecodeImageTest, ForgedHugeHeadersFailFastWithoutAllocating) {
  const std::string png = WithPngSize(Png(MakeGradientImage(8, 8, 3)), 100000, 100000);
  const std::string jpeg =
      decode_test::WithJpegSize(Jpeg(MakeGradientImage(8, 8, 3)), 65535, 65535);
  for (const std::string* forged : {&png, &jpeg}) {
    const auto start = std::chrono::steady_clock::now();
    Image image;
    EXPECT_THAT(DecodeImage(AsBytes(*forged), {}, &image), StatusIs(kInvalid, "cap of 100000000"));
    EXPECT_EQ(image.data.capacity(), 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  }
}

TEST(DecodeImageTest, TruncatedFilesFail) {
  const std::string jpeg = Jpeg(MakeGradientImage(32, 32, 3));
  const std::string png = Png(MakeGradientImage(32, 32, 3));
  EXPECT_THAT(Decode(jpeg.substr(0, jpeg.size() * 2 / 3)), StatusIs(kInvalid, "JPEG"));
  EXPECT_THAT(Decode(png.substr(0, png.size() * 2 / 3)), StatusIs(kInvalid, "PNG"));
}

// Each thread decodes good and bad files in turn; results must not depend
// on what other threads (or earlier failures on the same thread) did.
TEST(DecodeImageTest, ConcurrentDecodesAreIndependent) {
  const std::vector<std::string> files = {
      Jpeg(MakeGradientImage(48, 32, 3)), Png(MakeGradientImage(20, 10, 3, 16)),
      WithApp1(Jpeg(MakeGradientImage(40, 24, 1)), MakeExifPayload(8, true)),
      Jpeg(MakeGradientImage(48, 32, 3)).substr(0, 300),  // header only: fails
      RandomBytes(100, 9)};
  std::vector<absl::StatusOr<Image>> expected;
  for (const std::string& file : files) expected.push_back(Decode(file));
  ASSERT_OK(expected[0]);
  ASSERT_FALSE(expected[3].ok());

  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Image image;
      for (int i = 0; i < 60; ++i) {
        const size_t f = (i + t) % files.size();
        const absl::Status status = DecodeImage(AsBytes(files[f]), {}, &image);
        const bool same = status.ok() == expected[f].ok() &&
                          (!status.ok() || SameImage(image, *expected[f]));
        mismatches[t] += !same;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace imagefeed

namespace imagefeed {
namespace {

Image NoiseRgb(int width, int height, uint32_t seed) {
  Image image;
  image.Reset(width, height, 3, 8);
  std::mt19937 rng(seed);
  for (uint8_t& v : image.data) v = static_cast<uint8_t>(rng());
  return image;
}

// Whether `rect` of `got` equals the same-sized region at (x, y) of `ref`.
bool SameRegion(const Image& got, const PixelRect& rect, const Image& ref, int x, int y) {
  if (rect.x < 0 || rect.y < 0 || rect.x + rect.width > got.width || rect.y + rect.height > got.height) return false;
  for (int r = 0; r < rect.height; ++r) {
    const uint8_t* g = got.row(rect.y + r) + static_cast<size_t>(rect.x) * ref.channels;
    const uint8_t* e = ref.row(y + r) + static_cast<size_t>(x) * ref.channels;
    if (!std::equal(g, g + static_cast<size_t>(rect.width) * ref.channels, e)) return false;
  }
  return true;
}

// Every EXIF orientation: the window of the upright image, decoded partially
// (mapped to the stored image, then turned), equals the same region of the
// whole upright decode, and the decoded buffer is about the window's size.
TEST(DecodeImageWindowTest, WindowsOfOrientedJpegsEqualTheWholeUprightDecode) {
  const std::string plain = Jpeg(NoiseRgb(61, 43, 1));
  for (int orientation = 1; orientation <= 8; ++orientation) {
    const std::string jpeg = WithApp1(plain, MakeExifPayload(orientation, /*big_endian=*/true));
    absl::StatusOr<ImageHeader> header = PeekImageHeader(AsBytes(jpeg), DecodeOptions{});
    ASSERT_OK(header);
    Image whole;
    ASSERT_OK(DecodeImage(AsBytes(jpeg), DecodeOptions{}, &whole));
    // The whole decode is itself checked against an independent orientation.
    Image stored;
    DecodeOptions as_stored;
    as_stored.apply_exif_orientation = false;
    ASSERT_OK(DecodeImage(AsBytes(jpeg), as_stored, &stored));
    ASSERT_TRUE(SameImage(whole, ReferenceOrient(stored, orientation))) << orientation;
    int windows = 0;
    for (int x = 0; x < whole.width; x += 3) {
      for (int y = 0; y < whole.height; y += 5) {
        for (const auto& [w, h] : {std::pair{1, 1}, std::pair{17, 9}, std::pair{whole.width - x, whole.height - y}}) {
          if (w > whole.width - x || h > whole.height - y) continue;
          const PixelRect window{x, y, w, h};
          Image out;
          PixelRect rect;
          ASSERT_OK(DecodeImageWindow(AsBytes(jpeg), *header, DecodeOptions{}, window, 1, &out, &rect));
          ASSERT_EQ(rect.width, w);
          ASSERT_EQ(rect.height, h);
          ASSERT_TRUE(SameRegion(out, rect, whole, x, y))
              << "orientation " << orientation << " window " << w << "x" << h << "+" << x << "+" << y;
          ASSERT_LE(out.data.capacity(), DecodedWindowBytes(*header, DecodeOptions{}, window, 1));
          if (w == 1 && h == 1) {
            EXPECT_LT(out.width * out.height, 40 * 40) << "orientation " << orientation << ": decoded whole";
          }
          ++windows;
        }
      }
    }
    EXPECT_GT(windows, 200);
  }
}

// What decodes whole: other formats, partial_jpeg = false, and oriented
// JPEGs asked for a scaled window; `in_out` is then the window itself.
TEST(DecodeImageWindowTest, OtherCasesDecodeWholeAndReturnTheWindow) {
  const Image rgb = NoiseRgb(64, 48, 2);
  const std::string jpeg = Jpeg(rgb);
  const std::string oriented = WithApp1(jpeg, MakeExifPayload(6, /*big_endian=*/false));
  DecodeOptions off;
  off.partial_jpeg = false;
  const PixelRect window{10, 12, 20, 16};
  struct Case {
    std::string name;
    std::string file;
    DecodeOptions options;
    int scale;
  };
  for (const Case& c : {Case{"png", Png(rgb), DecodeOptions{}, 2}, Case{"partial_jpeg off", jpeg, off, 2},
                        Case{"oriented, scaled", oriented, DecodeOptions{}, 2}}) {
    absl::StatusOr<ImageHeader> header = PeekImageHeader(AsBytes(c.file), c.options);
    ASSERT_OK(header);
    Image out, whole;
    PixelRect rect;
    ASSERT_OK(DecodeImageWindow(AsBytes(c.file), *header, c.options, window, c.scale, &out, &rect));
    ASSERT_OK(DecodeImage(AsBytes(c.file), c.options, &whole));
    EXPECT_TRUE(SameImage(out, whole)) << c.name;
    EXPECT_EQ(rect.x, window.x) << c.name;
    EXPECT_EQ(rect.width, window.width) << c.name;
    EXPECT_EQ(DecodedWindowBytes(*header, c.options, window, c.scale), header->decoded_bytes()) << c.name;
  }
}

}  // namespace
}  // namespace imagefeed
