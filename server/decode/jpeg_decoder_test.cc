#include "server/decode/jpeg_decoder.h"

#include <turbojpeg.h>

#include <cstdio>  // before jpeglib.h, which needs FILE
#include <jpeglib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/image_encoders.h"
#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/decode_test_util.h"

namespace imagefeed {
namespace {

using decode_test::AsBytes;
using decode_test::EncodeCmyk;
using decode_test::FindJpegMarker;
using decode_test::MakeExifPayload;
using decode_test::ReferenceOrient;
using decode_test::SameImage;
using decode_test::WithApp1;
using decode_test::WithJpegSize;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// libjpeg-turbo with its defaults (accurate DCT, fancy upsampling), straight
// through tjDecompress2: what djpeg and Pillow produce.
std::vector<uint8_t> ReferenceDecode(const std::string& jpeg, int pixel_format, int flags = 0) {
  tjhandle tj = tjInitDecompress();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  std::vector<uint8_t> pixels;
  // The header call fills in the size even for sampling layouts it rejects.
  tjDecompressHeader3(tj, AsBytes(jpeg).data(), jpeg.size(), &width, &height, &subsampling,
                      &colorspace);
  if (width > 0 && height > 0) {
    pixels.resize(static_cast<size_t>(tjPixelSize[pixel_format]) * width * height);
    if (tjDecompress2(tj, AsBytes(jpeg).data(), jpeg.size(), pixels.data(), width, 0, height,
                      pixel_format, flags) != 0) {
      pixels.clear();
    }
  }
  tjDestroy(tj);
  return pixels;
}

std::string EncodeOrDie(const Image& image, ChromaSubsampling subsampling = ChromaSubsampling::k444,
                        bool progressive = false, int quality = 95) {
  absl::StatusOr<std::string> jpeg = EncodeJpeg(image, quality, subsampling, progressive);
  EXPECT_OK(jpeg);
  return jpeg.ok() ? *jpeg : "";
}

absl::StatusOr<Image> Decode(const std::string& jpeg, DecodeOptions options = {}) {
  Image image;
  absl::Status status = DecodeJpeg(AsBytes(jpeg), options, &image);
  if (!status.ok()) return status;
  return image;
}

double MeanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return a.empty() ? 1e9 : sum / a.size();
}

TEST(JpegDecoderTest, RgbMatchesLibjpegDefaultsExactlyAndSourceClosely) {
  const Image source = MakeGradientImage(64, 48, 3);
  const std::string jpeg = EncodeOrDie(source);
  // The fixture is sensitive to the DCT choice, so an exact match below
  // proves the accurate DCT.
  ASSERT_NE(ReferenceDecode(jpeg, TJPF_RGB, TJFLAG_FASTDCT), ReferenceDecode(jpeg, TJPF_RGB));
  ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 48);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.bit_depth, 8);
  EXPECT_EQ(image.data, ReferenceDecode(jpeg, TJPF_RGB));
  EXPECT_LT(MeanAbsDiff(image.data, source.data), 6.0);
}

TEST(JpegDecoderTest, SubsampledAndProgressiveMatchLibjpegDefaults) {
  const Image source = MakeGradientImage(61, 37, 3);  // odd sizes: partial MCUs
  for (bool progressive : {false, true}) {
    for (ChromaSubsampling subsampling : {ChromaSubsampling::k420, ChromaSubsampling::k422}) {
      const std::string jpeg = EncodeOrDie(source, subsampling, progressive);
      ASSERT_NE(ReferenceDecode(jpeg, TJPF_RGB, TJFLAG_FASTUPSAMPLE),
                ReferenceDecode(jpeg, TJPF_RGB));  // fancy upsampling matters here
      ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
      // (No closeness check: the fixture's chroma is too busy for subsampling.)
      EXPECT_EQ(image.data, ReferenceDecode(jpeg, TJPF_RGB)) << "progressive=" << progressive;
      EXPECT_EQ(image.width, 61);
      EXPECT_EQ(image.height, 37);
    }
  }
}

TEST(JpegDecoderTest, GrayscaleStaysOneChannel) {
  const Image source = MakeGradientImage(40, 30, 1);
  const std::string jpeg = EncodeOrDie(source);
  ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.data, ReferenceDecode(jpeg, TJPF_GRAY));
  EXPECT_LT(MeanAbsDiff(image.data, source.data), 6.0);
}

TEST(JpegDecoderTest, CmykBecomesRgbByRoundedProduct) {
  const int width = 33, height = 17;
  std::vector<uint8_t> cmyk(size_t{4} * width * height);
  for (size_t i = 0; i < cmyk.size(); ++i) cmyk[i] = static_cast<uint8_t>((i * 73 + i / 4) % 256);
  const std::string jpeg = EncodeCmyk(cmyk, width, height);
  ASSERT_FALSE(jpeg.empty());
  const std::vector<uint8_t> stored = ReferenceDecode(jpeg, TJPF_CMYK);
  ASSERT_EQ(stored.size(), cmyk.size());
  std::vector<uint8_t> expected;
  for (size_t p = 0; p < stored.size(); p += 4) {
    for (int c = 0; c < 3; ++c) {
      expected.push_back(static_cast<uint8_t>((2 * stored[p + c] * stored[p + 3] + 255) / 510));
    }
  }
  ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.width, width);
  EXPECT_EQ(image.data, expected);
}

// A YCbCr JPEG written with the libjpeg API whose luma has `h` x `v`
// sampling against 1x1 chroma.
std::string EncodeWithLumaSampling(const Image& rgb, int h, int v) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = rgb.width;
  cinfo.image_height = rgb.height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 90, TRUE);
  cinfo.comp_info[0].h_samp_factor = h;
  cinfo.comp_info[0].v_samp_factor = v;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(rgb.row(cinfo.next_scanline));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<const char*>(buf), size);
  jpeg_destroy_compress(&cinfo);
  free(buf);
  return out;
}

TEST(JpegDecoderTest, DecodesSamplingLayoutsTurboJpegHasNoNameFor) {
  const std::string jpeg = EncodeWithLumaSampling(MakeGradientImage(45, 29, 3), 4, 2);
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  tjhandle tj = tjInitDecompress();
  const int rc = tjDecompressHeader3(tj, AsBytes(jpeg).data(), jpeg.size(), &width, &height,
                                     &subsampling, &colorspace);
  tjDestroy(tj);
  ASSERT_NE(rc, 0) << "fixture should be a layout tjDecompressHeader3 refuses";
  ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
  EXPECT_EQ(image.width, 45);
  EXPECT_EQ(image.height, 29);
  EXPECT_EQ(image.data, ReferenceDecode(jpeg, TJPF_RGB));
  ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekJpeg(AsBytes(jpeg), {}));
  EXPECT_EQ(header.height, 29);
}

TEST(JpegDecoderTest, TwelveBitPrecisionIsAClearError) {
  std::string jpeg = EncodeOrDie(MakeGradientImage(16, 16, 3));
  const size_t sof = FindJpegMarker(jpeg, 0xC0);
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 4] = 12;
  EXPECT_THAT(Decode(jpeg), StatusIs(kInvalid, "unsupported precision: 12-bit"));
  EXPECT_THAT(PeekJpeg(AsBytes(jpeg), {}), StatusIs(kInvalid, "unsupported precision"));
}

TEST(JpegDecoderTest, TruncatedFilesFail) {
  const std::string jpeg = EncodeOrDie(MakeGradientImage(64, 64, 3));
  const size_t sos = FindJpegMarker(jpeg, 0xDA);
  ASSERT_NE(sos, std::string::npos);
  // Mid-scan and "only EOI missing" are libjpeg warnings; before SOS, an error.
  for (size_t size : {jpeg.size() / 2, jpeg.size() - 2, sos, size_t{20}, size_t{3}}) {
    EXPECT_THAT(Decode(jpeg.substr(0, size)), StatusIs(kInvalid, "JPEG")) << size << " bytes";
  }
  EXPECT_THAT(Decode(jpeg.substr(0, jpeg.size() / 2)),
              StatusIs(kInvalid, "JPEG data corrupt or truncated: Premature end of JPEG file"));
}

// TurboJPEG 2.1.5 leaves a handle mid-header after a failed header read;
// reused as is, the next file reads as 0x0 or crashes.
TEST(JpegDecoderTest, HeaderFailureDoesNotPoisonTheNextDecode) {
  const std::string jpeg = EncodeOrDie(MakeGradientImage(24, 16, 3));
  const size_t sos = FindJpegMarker(jpeg, 0xDA);
  const size_t dht = FindJpegMarker(jpeg, 0xC4);
  ASSERT_NE(sos, std::string::npos);
  ASSERT_NE(dht, std::string::npos);
  std::string bad_table = jpeg;
  bad_table[dht + 4] = 0x7F;  // Huffman table class/index out of range
  const std::vector<std::uint8_t> expected = ReferenceDecode(jpeg, TJPF_RGB);
  for (const std::string& bad : {jpeg.substr(0, sos), bad_table}) {
    // Exactly one failure before each good decode: a second one would mask it.
    EXPECT_THAT(Decode(bad), StatusIs(kInvalid, "JPEG header unreadable"));
    ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
    EXPECT_EQ(image.data, expected);
    EXPECT_THAT(PeekJpeg(AsBytes(bad), {}), StatusIs(kInvalid, "JPEG header unreadable"));
    ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekJpeg(AsBytes(jpeg), {}));
    EXPECT_EQ(header.width, 24);
  }
}

TEST(JpegDecoderTest, ForgedHugeHeaderFailsBeforeAllocation) {
  const std::string jpeg = WithJpegSize(EncodeOrDie(MakeGradientImage(16, 16, 3)), 60000, 60000);
  ASSERT_FALSE(jpeg.empty());
  const auto start = std::chrono::steady_clock::now();
  Image image;
  EXPECT_THAT(DecodeJpeg(AsBytes(jpeg), {}, &image),
              StatusIs(kInvalid, "60000x60000 = 3600000000 pixels, more than the cap of 100000000"));
  EXPECT_EQ(image.data.capacity(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_THAT(PeekJpeg(AsBytes(jpeg), {}), StatusIs(kInvalid, "60000x60000"));
}

TEST(JpegDecoderTest, ZeroHeightFails) {
  const std::string jpeg = WithJpegSize(EncodeOrDie(MakeGradientImage(16, 16, 3)), 16, 0);
  Image image;
  EXPECT_THAT(DecodeJpeg(AsBytes(jpeg), {}, &image), StatusIs(kInvalid, "16x0 (zero width"));
  EXPECT_EQ(image.data.capacity(), 0u);
}

TEST(JpegDecoderTest, PixelCapIsInclusive) {
  const std::string jpeg = EncodeOrDie(MakeGradientImage(64, 48, 3));
  DecodeOptions options;
  options.max_pixels = 64 * 48;
  EXPECT_OK(Decode(jpeg, options));
  options.max_pixels = 64 * 48 - 1;
  EXPECT_THAT(Decode(jpeg, options),
              StatusIs(kInvalid, "64x48 = 3072 pixels, more than the cap of 3071"));
}

TEST(JpegDecoderTest, ReusesOutputCapacity) {
  const std::string big = EncodeOrDie(MakeGradientImage(64, 48, 3));
  const std::string small = EncodeOrDie(MakeGradientImage(16, 8, 1));
  Image image;
  ASSERT_OK(DecodeJpeg(AsBytes(big), {}, &image));
  const uint8_t* buffer = image.data.data();
  ASSERT_OK(DecodeJpeg(AsBytes(small), {}, &image));
  EXPECT_EQ(image.data.data(), buffer);  // no reallocation
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.data, ReferenceDecode(small, TJPF_GRAY));
}

TEST(JpegDecoderTest, AppliesEveryExifOrientation) {
  const Image source = MakeGradientImage(40, 24, 3);  // non-square: rotations swap axes
  const std::string plain = EncodeOrDie(source, ChromaSubsampling::k420);
  ASSERT_OK_AND_ASSIGN(Image upright, Decode(plain));
  for (int orientation = 1; orientation <= 8; ++orientation) {
    const std::string jpeg = WithApp1(plain, MakeExifPayload(orientation, orientation % 2 == 0));
    ASSERT_OK_AND_ASSIGN(Image image, Decode(jpeg));
    EXPECT_TRUE(SameImage(image, ReferenceOrient(upright, orientation))) << orientation;
    ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekJpeg(AsBytes(jpeg), {}));
    EXPECT_EQ(header.width, 40) << "Peek reports the stored size";

    DecodeOptions keep;
    keep.apply_exif_orientation = false;
    ASSERT_OK_AND_ASSIGN(Image stored, Decode(jpeg, keep));
    EXPECT_TRUE(SameImage(stored, upright)) << orientation;
  }
}

TEST(JpegDecoderTest, RotateNinetyClockwisePutsBottomLeftOnTop) {
  const std::string plain = EncodeOrDie(MakeGradientImage(40, 24, 1));
  ASSERT_OK_AND_ASSIGN(Image upright, Decode(plain));
  ASSERT_OK_AND_ASSIGN(Image rotated, Decode(WithApp1(plain, MakeExifPayload(6, true))));
  ASSERT_EQ(rotated.width, 24);
  ASSERT_EQ(rotated.height, 40);
  EXPECT_EQ(rotated.row(0)[0], upright.row(23)[0]);    // bottom-left -> top-left
  EXPECT_EQ(rotated.row(0)[23], upright.row(0)[0]);    // top-left -> top-right
  EXPECT_EQ(rotated.row(39)[23], upright.row(0)[39]);  // top-right -> bottom-right
}

TEST(JpegDecoderTest, OrientsCmykToo) {
  std::vector<uint8_t> cmyk(size_t{4} * 20 * 12);
  for (size_t i = 0; i < cmyk.size(); ++i) cmyk[i] = static_cast<uint8_t>(i * 31 % 251);
  const std::string plain = EncodeCmyk(cmyk, 20, 12);
  ASSERT_OK_AND_ASSIGN(Image upright, Decode(plain));
  ASSERT_OK_AND_ASSIGN(Image image, Decode(WithApp1(plain, MakeExifPayload(8, false))));
  EXPECT_TRUE(SameImage(image, ReferenceOrient(upright, 8)));
}

TEST(JpegDecoderTest, MalformedExifIsIgnored) {
  const std::string plain = EncodeOrDie(MakeGradientImage(40, 24, 3));
  ASSERT_OK_AND_ASSIGN(Image upright, Decode(plain));
  std::string exif = MakeExifPayload(6, true);
  exif[10] = '\x7F';  // IFD0 offset far outside the block
  ASSERT_OK_AND_ASSIGN(Image image, Decode(WithApp1(plain, exif)));
  EXPECT_TRUE(SameImage(image, upright));
  ASSERT_OK_AND_ASSIGN(Image cut, Decode(WithApp1(plain, exif.substr(0, 9))));
  EXPECT_TRUE(SameImage(cut, upright));
}

TEST(JpegDecoderTest, CorruptedFilesFailCleanly) {
  const std::string jpeg = EncodeOrDie(MakeGradientImage(48, 32, 3), ChromaSubsampling::k420);
  std::mt19937 rng(42);
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bad = jpeg;
    for (int f = 0; f < 4; ++f) bad[2 + rng() % (bad.size() - 2)] = static_cast<char>(rng());
    Image image;
    absl::Status status = DecodeJpeg(AsBytes(bad), {}, &image);
    if (status.ok()) {
      EXPECT_EQ(image.size_bytes(), image.data.size());
    } else {
      EXPECT_EQ(status.code(), kInvalid) << status;
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(JpegDecoderTest, NonJpegInputIsRejected) {
  EXPECT_THAT(Decode(""), StatusIs(kInvalid, "not a JPEG file"));
  EXPECT_THAT(Decode("\x89PNG\r\n\x1a\n"), StatusIs(kInvalid, "not a JPEG file"));
  std::string random(500, '\0');
  std::mt19937 rng(3);
  for (char& c : random) c = static_cast<char>(rng());
  EXPECT_THAT(Decode("\xFF\xD8\xFF" + random), StatusIs(kInvalid, "JPEG"));
}

}  // namespace
}  // namespace imagefeed
