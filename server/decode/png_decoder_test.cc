#include "server/decode/png_decoder.h"

#include <png.h>
#include <zlib.h>

#include <chrono>
#include <csetjmp>
#include <cstring>
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
using decode_test::FixPngCrc;
using decode_test::SameImage;
using decode_test::WithPngSize;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// A PNG written with libpng directly, for what EncodePng cannot express.
struct RawPng {
  int width = 0;
  int height = 0;
  int bit_depth = 8;
  int color_type = PNG_COLOR_TYPE_GRAY;
  bool interlace = false;
  std::vector<uint8_t> packed;         // rows as PNG stores them (big-endian, packed bits)
  std::vector<png_color> palette;
  std::vector<uint8_t> palette_alpha;  // tRNS for palettes
  bool has_color_key = false;          // tRNS for gray/RGB
  png_color_16 color_key{};
  int filters = PNG_ALL_FILTERS;       // png_set_filter: the filter types the writer may pick
  size_t idat_bytes = 8192;            // libpng's default: the data of one IDAT chunk at most
};

void AppendToString(png_structp png, png_bytep data, size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), length);
}
void FlushNothing(png_structp) {}

// Only libpng calls after setjmp; `out` and `rows` exist before it.
bool WritePng(const RawPng& p, png_bytepp rows, std::string* out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, AppendToString, FlushNothing);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);  // default 10^6 per side
  png_set_IHDR(png, info, p.width, p.height, p.bit_depth, p.color_type,
               p.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!p.palette.empty()) png_set_PLTE(png, info, p.palette.data(), p.palette.size());
  if (!p.palette_alpha.empty()) {
    png_set_tRNS(png, info, p.palette_alpha.data(), p.palette_alpha.size(), nullptr);
  }
  if (p.has_color_key) png_set_tRNS(png, info, nullptr, 0, &p.color_key);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, p.filters);
  png_set_compression_buffer_size(png, p.idat_bytes);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

std::string Write(const RawPng& p) {
  const size_t row_bytes = p.packed.size() / p.height;
  std::vector<png_bytep> rows(p.height);
  for (int y = 0; y < p.height; ++y) {
    rows[y] = const_cast<png_bytep>(p.packed.data() + row_bytes * y);
  }
  std::string out;
  EXPECT_TRUE(WritePng(p, rows.data(), &out));
  return out;
}

// Pixel values 0..2^depth-1 for a `width` x `height` image, and those values
// packed MSB-first as PNG stores sub-byte samples.
std::vector<int> SampleValues(int width, int height, int depth) {
  std::vector<int> values;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) values.push_back((x * 3 + y * 5 + x * y) % (1 << depth));
  }
  return values;
}

std::vector<uint8_t> Pack(const std::vector<int>& values, int width, int height, int depth) {
  const int row_bytes = (width * depth + 7) / 8;
  std::vector<uint8_t> packed(size_t{static_cast<unsigned>(row_bytes)} * height, 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int bit = x * depth;
      packed[y * row_bytes + bit / 8] |=
          static_cast<uint8_t>(values[y * width + x] << (8 - depth - bit % 8));
    }
  }
  return packed;
}

absl::StatusOr<Image> Decode(const std::string& png, DecodeOptions options = {}) {
  Image image;
  absl::Status status = DecodePng(AsBytes(png), options, &image);
  if (!status.ok()) return status;
  return image;
}

// `image` without its last channel (alpha).
Image DropAlpha(const Image& image) {
  Image out;
  out.Reset(image.width, image.height, image.channels - 1, image.bit_depth);
  const size_t sample = image.bytes_per_sample();
  for (size_t p = 0; p < size_t{static_cast<unsigned>(image.width)} * image.height; ++p) {
    std::memcpy(&out.data[p * out.channels * sample], &image.data[p * image.channels * sample],
                out.channels * sample);
  }
  return out;
}

struct EncodedCase {
  int channels;
  int bit_depth;
  bool interlace;
};

class PngEncodedTest : public ::testing::TestWithParam<EncodedCase> {};

TEST_P(PngEncodedTest, DecodesToSourcePixelsWithAlphaDropped) {
  const EncodedCase c = GetParam();
  const Image source = MakeGradientImage(37, 23, c.channels, c.bit_depth);  // odd: Adam7 edges
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(source, c.interlace));
  ASSERT_OK_AND_ASSIGN(Image image, Decode(png));
  const Image expected = c.channels % 2 == 0 ? DropAlpha(source) : source;
  EXPECT_EQ(image.channels, c.channels >= 3 ? 3 : 1);
  EXPECT_EQ(image.bit_depth, c.bit_depth);
  EXPECT_TRUE(SameImage(image, expected));
}

INSTANTIATE_TEST_SUITE_P(
    AllColorTypes, PngEncodedTest,
    ::testing::Values(EncodedCase{1, 8, false}, EncodedCase{1, 16, false}, EncodedCase{2, 8, false},
                      EncodedCase{2, 16, false}, EncodedCase{3, 8, false}, EncodedCase{3, 16, false},
                      EncodedCase{4, 8, false}, EncodedCase{4, 16, false}, EncodedCase{1, 8, true},
                      EncodedCase{1, 16, true}, EncodedCase{2, 16, true}, EncodedCase{3, 8, true},
                      EncodedCase{3, 16, true}, EncodedCase{4, 8, true}));

TEST(PngDecoderTest, SixteenBitSamplesAreNativeEndian) {
  Image source;
  source.Reset(2, 1, 1, 16);
  source.row16(0)[0] = 0x1234;
  source.row16(0)[1] = 0xFF01;
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(source));
  ASSERT_OK_AND_ASSIGN(Image image, Decode(png));
  EXPECT_EQ(image.row16(0)[0], 0x1234);
  EXPECT_EQ(image.row16(0)[1], 0xFF01);
}

TEST(PngDecoderTest, LowBitDepthGrayIsScaledByBitReplication) {
  for (int depth : {1, 2, 4}) {
    for (bool interlace : {false, true}) {
      const std::vector<int> values = SampleValues(19, 11, depth);
      RawPng p;
      p.width = 19, p.height = 11, p.bit_depth = depth, p.interlace = interlace;
      p.packed = Pack(values, 19, 11, depth);
      ASSERT_OK_AND_ASSIGN(Image image, Decode(Write(p)));
      ASSERT_EQ(image.channels, 1);
      ASSERT_EQ(image.bit_depth, 8);
      const int scale = 255 / ((1 << depth) - 1);  // 255, 85, 17
      std::vector<uint8_t> expected;
      for (int v : values) expected.push_back(static_cast<uint8_t>(v * scale));
      EXPECT_EQ(image.data, expected) << depth << "-bit, interlace=" << interlace;
    }
  }
}

TEST(PngDecoderTest, PalettesAreLookedUpAndTransparencyDropped) {
  for (int depth : {1, 2, 4, 8}) {
    for (bool with_trns : {false, true}) {
      const int entries = 1 << depth;
      RawPng p;
      p.width = 21, p.height = 9, p.bit_depth = depth, p.color_type = PNG_COLOR_TYPE_PALETTE;
      p.interlace = depth == 4;
      for (int i = 0; i < entries; ++i) {
        p.palette.push_back(png_color{static_cast<png_byte>(i * 7 + 1),
                                      static_cast<png_byte>(255 - i), static_cast<png_byte>(i * 3)});
        if (with_trns) p.palette_alpha.push_back(static_cast<uint8_t>(i * 37));
      }
      const std::vector<int> indices = SampleValues(21, 9, depth);
      p.packed = Pack(indices, 21, 9, depth);
      ASSERT_OK_AND_ASSIGN(Image image, Decode(Write(p)));
      ASSERT_EQ(image.channels, 3);
      std::vector<uint8_t> expected;
      for (int i : indices) {
        expected.insert(expected.end(), {p.palette[i].red, p.palette[i].green, p.palette[i].blue});
      }
      EXPECT_EQ(image.data, expected) << depth << "-bit palette, tRNS=" << with_trns;
    }
  }
}

TEST(PngDecoderTest, ColorKeyTransparencyIsIgnored) {
  const Image gray = MakeGradientImage(13, 7, 1);
  const Image rgb = MakeGradientImage(13, 7, 3);
  for (const Image* source : {&gray, &rgb}) {
    RawPng p;
    p.width = 13, p.height = 7;
    p.color_type = source->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    p.packed = source->data;
    p.has_color_key = true;
    p.color_key.gray = source->data[0];
    p.color_key.red = source->data[0];
    p.color_key.green = source->data[1];
    p.color_key.blue = source->data[2];
    ASSERT_OK_AND_ASSIGN(Image image, Decode(Write(p)));
    EXPECT_TRUE(SameImage(image, *source)) << source->channels << " channels";
  }
}

// Inserts an ancillary tEXt chunk before IEND; `bad_crc` damages its CRC.
std::string WithTextChunk(const std::string& png, bool bad_crc) {
  const std::string text("Comment\0hi", 10);
  std::string chunk(4, '\0');
  decode_test::PutBigEndian32(&chunk, 0, static_cast<uint32_t>(text.size()));
  chunk += "tEXt" + text + std::string(4, '\0');
  FixPngCrc(&chunk, 0);
  if (bad_crc) chunk[chunk.size() - 1] ^= 0x55;
  return png.substr(0, png.size() - 12) + chunk + png.substr(png.size() - 12);
}

TEST(PngDecoderTest, AncillaryChunkDamageIsAWarningAndIgnored) {
  const Image source = MakeGradientImage(16, 16, 3);
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(source));
  ASSERT_OK_AND_ASSIGN(Image clean, Decode(WithTextChunk(png, false)));
  EXPECT_TRUE(SameImage(clean, source));
  ASSERT_OK_AND_ASSIGN(Image damaged, Decode(WithTextChunk(png, true)));
  EXPECT_TRUE(SameImage(damaged, source));
}

TEST(PngDecoderTest, ImageDataDamageIsAnError) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(MakeGradientImage(16, 16, 3)));
  const size_t idat = png.find("IDAT") - 4;
  std::string bad_crc = png;
  bad_crc[png.size() - 12 - 1] ^= 0x01;  // last byte of IDAT's CRC (IEND follows IDAT)
  EXPECT_THAT(Decode(bad_crc), StatusIs(kInvalid, "CRC error"));
  std::string bad_zlib = png;
  bad_zlib[idat + 8] ^= 0xFF;  // zlib header
  FixPngCrc(&bad_zlib, idat);
  EXPECT_THAT(Decode(bad_zlib), StatusIs(kInvalid, "PNG image data invalid"));
}

TEST(PngDecoderTest, TruncatedFilesFail) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(MakeGradientImage(64, 64, 3), true));
  for (size_t size : {png.size() / 2, png.size() - 12, png.size() - 1, size_t{40}}) {
    EXPECT_THAT(Decode(png.substr(0, size)), StatusIs(kInvalid, "truncated")) << size << " bytes";
  }
  EXPECT_THAT(Decode(png.substr(0, 20)), StatusIs(kInvalid, "PNG truncated inside its IHDR"));
}

TEST(PngDecoderTest, ForgedHugeHeaderFailsBeforeAllocation) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(MakeGradientImage(8, 8, 1)));
  const std::string forged = WithPngSize(png, 100000, 100000);
  const auto start = std::chrono::steady_clock::now();
  Image image;
  EXPECT_THAT(DecodePng(AsBytes(forged), {}, &image),
              StatusIs(kInvalid,
                       "100000x100000 = 10000000000 pixels, more than the cap of 100000000"));
  EXPECT_EQ(image.data.capacity(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_THAT(PeekPng(AsBytes(forged), {}), StatusIs(kInvalid, "100000x100000"));
}

TEST(PngDecoderTest, ZeroAndAbsurdDimensionsFail) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(MakeGradientImage(8, 8, 1)));
  EXPECT_THAT(Decode(WithPngSize(png, 8, 0)), StatusIs(kInvalid, "8x0 (zero width or height)"));
  EXPECT_THAT(Decode(WithPngSize(png, 0x80000000u, 1)), StatusIs(kInvalid, "absurd dimensions"));
}

TEST(PngDecoderTest, PixelCapIsInclusiveAndPeekAgrees) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(MakeGradientImage(30, 20, 3)));
  DecodeOptions options;
  options.max_pixels = 600;
  EXPECT_OK(Decode(png, options));
  ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekPng(AsBytes(png), options));
  EXPECT_EQ(header.format, ImageFormat::kPng);
  EXPECT_EQ(header.width, 30);
  EXPECT_EQ(header.height, 20);
  options.max_pixels = 599;
  EXPECT_THAT(Decode(png, options),
              StatusIs(kInvalid, "30x20 = 600 pixels, more than the cap of 599"));
  EXPECT_THAT(PeekPng(AsBytes(png), options), StatusIs(kInvalid, "cap of 599"));
}

TEST(PngDecoderTest, WiderThanLibpngDefaultLimitDecodes) {
  const Image source = MakeGradientImage(1'000'001, 1, 1);  // libpng's default cap is 10^6
  RawPng p;
  p.width = source.width, p.height = 1;
  p.packed = source.data;
  ASSERT_OK_AND_ASSIGN(Image image, Decode(Write(p)));
  EXPECT_TRUE(SameImage(image, source));
}

TEST(PngDecoderTest, ReusesOutputCapacity) {
  ASSERT_OK_AND_ASSIGN(std::string big, EncodePng(MakeGradientImage(40, 40, 3, 16)));
  const Image small_source = MakeGradientImage(9, 5, 1);
  ASSERT_OK_AND_ASSIGN(std::string small, EncodePng(small_source));
  Image image;
  ASSERT_OK(DecodePng(AsBytes(big), {}, &image));
  const uint8_t* buffer = image.data.data();
  ASSERT_OK(DecodePng(AsBytes(small), {}, &image));
  EXPECT_EQ(image.data.data(), buffer);
  EXPECT_TRUE(SameImage(image, small_source));
}

TEST(PngDecoderTest, CorruptedFilesFailCleanly) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(MakeGradientImage(32, 24, 3), true));
  const size_t idat = png.find("IDAT") - 4;
  const size_t idat_length = png.size() - 12 - idat - 12;  // IEND follows the only IDAT
  std::mt19937 rng(5);
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bad = png;
    if (i % 2 == 0) {
      // Damage the compressed data only, with a valid CRC, so zlib and the
      // filters see it.
      for (int f = 0; f < 3; ++f) bad[idat + 8 + rng() % idat_length] = static_cast<char>(rng());
      FixPngCrc(&bad, idat);
    } else {
      for (int f = 0; f < 3; ++f) bad[8 + rng() % (bad.size() - 8)] = static_cast<char>(rng());
    }
    Image image;
    absl::Status status = DecodePng(AsBytes(bad), {}, &image);
    if (status.ok()) {
      EXPECT_EQ(image.size_bytes(), image.data.size());
    } else {
      EXPECT_EQ(status.code(), kInvalid) << status;
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

// The whole-buffer path (libdeflate, filters undone here) against libpng
// alone (whole_buffer_png = false), and both against the source pixels.
absl::StatusOr<Image> DecodeWithLibpngOnly(const std::string& png) {
  DecodeOptions libpng_only;
  libpng_only.whole_buffer_png = false;
  return Decode(png, libpng_only);
}

// 8-bit sources of every colour type the whole-buffer path takes.
constexpr int kWholeBufferColorTypes[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                          PNG_COLOR_TYPE_RGB_ALPHA};
int ChannelsOf(int color_type) {
  return color_type == PNG_COLOR_TYPE_GRAY ? 1 : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
         : color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
}

// Writes `source` with libpng (filter types `filters`, IDAT chunks of at
// most `idat_bytes`), decodes it on the whole-buffer path and expects
// libpng's pixels and the source's (alpha dropped).
void ExpectWholeBufferDecodesLikeLibpng(const Image& source, int color_type, int filters, size_t idat_bytes = 8192) {
  RawPng p;
  p.width = source.width, p.height = source.height, p.color_type = color_type;
  p.packed = source.data;
  p.filters = filters;
  p.idat_bytes = idat_bytes;
  const std::string png = Write(p);
  ASSERT_OK_AND_ASSIGN(Image fast, Decode(png));
  ASSERT_OK_AND_ASSIGN(Image reference, DecodeWithLibpngOnly(png));
  EXPECT_TRUE(SameImage(fast, reference));
  EXPECT_TRUE(SameImage(fast, source.channels % 2 == 0 ? DropAlpha(source) : source));
}

TEST(PngDecoderTest, WholeBufferPathUndoesEveryFilterLikeLibpng) {
  struct Filter {
    int flag;
    const char* name;
  };
  const Filter filters[] = {{PNG_FILTER_NONE, "none"}, {PNG_FILTER_SUB, "sub"},   {PNG_FILTER_UP, "up"},
                            {PNG_FILTER_AVG, "average"}, {PNG_FILTER_PAETH, "paeth"}, {PNG_ALL_FILTERS, "adaptive"}};
  for (const int color_type : kWholeBufferColorTypes) {
    const Image source = MakeGradientImage(41, 29, ChannelsOf(color_type));  // odd sizes, every byte value
    for (const Filter& f : filters) {
      for (const size_t idat_bytes : {size_t{8192}, size_t{97}}) {  // one IDAT, many
        SCOPED_TRACE(::testing::Message() << "colour type " << color_type << ", filter " << f.name
                                          << ", IDAT " << idat_bytes);
        ExpectWholeBufferDecodesLikeLibpng(source, color_type, f.flag, idat_bytes);
      }
    }
  }
}

// Paeth's three predictions and its tie rules, on noise (every row filtered
// with Paeth, so neighbouring values are unrelated and each choice and each
// tie occurs many times) and widths from one pixel up: the SIMD path of RGB
// and RGBA (png_unfilter.cc) and the scalar one of gray, against libpng and
// the source pixels.
TEST(PngDecoderTest, PaethOnNoiseMatchesLibpngAndTheSource) {
  uint32_t state = 2463534242u;
  const auto next = [&state] {  // xorshift32
    state ^= state << 13, state ^= state >> 17, state ^= state << 5;
    return state;
  };
  for (const int color_type : kWholeBufferColorTypes) {
    for (const int width : {1, 2, 7, 64, 301}) {
      SCOPED_TRACE(::testing::Message() << "colour type " << color_type << ", width " << width);
      Image source;
      source.Reset(width, 37, ChannelsOf(color_type), 8);
      // Few distinct values (multiples of 16, some near the wrap) so that
      // equal distances, and so ties, are frequent.
      for (uint8_t& v : source.data) v = static_cast<uint8_t>(((next() >> 24) & 0xF0) | ((next() >> 30) == 0 ? 0x0F : 0));
      ExpectWholeBufferDecodesLikeLibpng(source, color_type, PNG_FILTER_PAETH);
    }
  }
}

TEST(PngDecoderTest, WholeBufferPathAgreesWithLibpngOnDamagedFiles) {
  const Image source = MakeGradientImage(33, 27, 4);
  RawPng p;
  p.width = source.width, p.height = source.height, p.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  p.packed = source.data;
  p.idat_bytes = 500;  // several IDATs
  const std::string png = Write(p);
  const size_t first_idat = png.find("IDAT") - 4;
  std::mt19937 rng(11);
  int failures = 0, decoded = 0;
  for (int i = 0; i < 400; ++i) {
    std::string bad = png;
    switch (i % 4) {
      case 0:  // compressed data (CRC fixed, so inflate and the filters see it)
        for (int f = 0; f < 2; ++f) bad[first_idat + 8 + rng() % 500] = static_cast<char>(rng());
        FixPngCrc(&bad, first_idat);
        break;
      case 1:  // an ancillary chunk (here before IEND) with a bad CRC: decodes on both paths
        bad = WithTextChunk(png, true);
        bad[bad.size() - 12 - 4 - 1 - rng() % 10] = static_cast<char>(rng());
        break;
      case 2:  // truncated
        bad.resize(8 + rng() % (bad.size() - 8));
        break;
      default:  // IEND cut off
        bad.resize(bad.size() - 12 + rng() % 12);
        break;
    }
    const absl::StatusOr<Image> fast = Decode(bad);
    const absl::StatusOr<Image> reference = DecodeWithLibpngOnly(bad);
    ASSERT_EQ(fast.ok(), reference.ok()) << i << ": " << fast.status() << " vs " << reference.status();
    if (fast.ok()) {
      EXPECT_TRUE(SameImage(*fast, *reference)) << i;
      ++decoded;
    } else {
      EXPECT_EQ(fast.status(), reference.status()) << i;
      ++failures;
    }
  }
  EXPECT_GT(failures, 150);
  EXPECT_GE(decoded, 100);
  for (size_t size = 29; size <= 45; ++size) {  // around IHDR's CRC and the first chunk header
    const std::string cut = png.substr(0, size);
    EXPECT_EQ(Decode(cut).status(), DecodeWithLibpngOnly(cut).status()) << size << " bytes";
  }
}

// An 8-bit RGB PNG made by hand: `rows` are the filtered rows (filter type
// byte first), deflated by zlib, with `trailing` bytes after the zlib stream.
std::string HandMadePng(int width, int height, const std::string& rows, const std::string& trailing = "") {
  auto chunk = [](const std::string& type, const std::string& data) {
    std::string c(4, '\0');
    decode_test::PutBigEndian32(&c, 0, static_cast<uint32_t>(data.size()));
    c += type + data + std::string(4, '\0');
    FixPngCrc(&c, 0);
    return c;
  };
  std::string ihdr(13, '\0');
  decode_test::PutBigEndian32(&ihdr, 0, static_cast<uint32_t>(width));
  decode_test::PutBigEndian32(&ihdr, 4, static_cast<uint32_t>(height));
  ihdr[8] = 8, ihdr[9] = PNG_COLOR_TYPE_RGB;
  uLongf size = compressBound(rows.size());
  std::string z(size, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(rows.data()),
                      rows.size(), 9),
            Z_OK);
  z.resize(size);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", z + trailing) +
         chunk("IEND", "");
}

TEST(PngDecoderTest, HandFilteredRowsDecodeToHandComputedPixels) {
  // 2x2 RGB. Row 0, Sub: (10,20,30) then +(1,2,3) -> (11,22,33).
  // Row 1, Paeth: pixel 0 has a = c = 0, b = above = (10,20,30): predicts b -> +(5,5,5) = (15,25,35);
  // pixel 1: a = (15,25,35), b = (11,22,33), c = (10,20,30); p = a + b - c = (16,27,38),
  // |p-a| = (1,2,3) <= |p-b| = (5,5,5), |p-c| = (6,7,8): predicts a -> +(1,1,1) = (16,26,36).
  const std::string rows("\x01\x0a\x14\x1e\x01\x02\x03"
                         "\x04\x05\x05\x05\x01\x01\x01", 14);
  for (const std::string& trailing : {std::string(), std::string("junk")}) {  // junk: libpng only warns
    const std::string png = HandMadePng(2, 2, rows, trailing);
    ASSERT_OK_AND_ASSIGN(Image image, Decode(png));
    EXPECT_EQ(std::vector<uint8_t>(image.data.begin(), image.data.end()),
              (std::vector<uint8_t>{10, 20, 30, 11, 22, 33, 15, 25, 35, 16, 26, 36}));
    ASSERT_OK_AND_ASSIGN(Image reference, DecodeWithLibpngOnly(png));
    EXPECT_TRUE(SameImage(image, reference));
  }
  // Filter type 5 does not exist; too few rows; too many: libpng's verdicts on both paths.
  for (const std::string& bad_rows : {std::string(rows).replace(7, 1, "\x05"), rows.substr(0, 7), rows + rows}) {
    const std::string png = HandMadePng(2, 2, bad_rows);
    const absl::StatusOr<Image> fast = Decode(png);
    const absl::StatusOr<Image> reference = DecodeWithLibpngOnly(png);
    EXPECT_EQ(fast.status(), reference.status());
    if (fast.ok() && reference.ok()) {
      EXPECT_TRUE(SameImage(*fast, *reference));
    }
  }
  EXPECT_THAT(Decode(HandMadePng(2, 2, std::string(rows).replace(7, 1, "\x05"))),
              StatusIs(kInvalid, "bad adaptive filter value"));
}

TEST(PngDecoderTest, UnusualButValidFilesGoToLibpng) {
  const Image source = MakeGradientImage(16, 8, 3);
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(source));
  // A PLTE chunk in an RGB file (a suggested palette): legal, left to libpng.
  std::string plte(4, '\0');
  decode_test::PutBigEndian32(&plte, 0, 3);
  plte += std::string("PLTE") + std::string("\x10\x20\x30", 3) + std::string(4, '\0');
  FixPngCrc(&plte, 0);
  const size_t idat = png.find("IDAT") - 4;
  const std::string with_plte = png.substr(0, idat) + plte + png.substr(idat);
  ASSERT_OK_AND_ASSIGN(Image image, Decode(with_plte));
  EXPECT_TRUE(SameImage(image, source));
  // What libpng refuses outright, though the pixels are intact: an ancillary chunk
  // whose type is not four letters (found by png_decoder_fuzzer), an IEND with data.
  std::string bad_name = WithTextChunk(png, false);
  bad_name[bad_name.size() - 12 - 4 - 10 - 4 + 2] = '\xcc';  // "tE\xccXt"
  FixPngCrc(&bad_name, bad_name.size() - 12 - 4 - 10 - 8);
  EXPECT_THAT(Decode(bad_name), StatusIs(kInvalid, "invalid chunk type"));
  EXPECT_EQ(Decode(bad_name).status(), DecodeWithLibpngOnly(bad_name).status());
  std::string iend_data = png.substr(0, png.size() - 12) + std::string("\0\0\0\x01IEND\x00", 9) + std::string(4, '\0');
  FixPngCrc(&iend_data, png.size() - 12);
  EXPECT_EQ(Decode(iend_data).status(), DecodeWithLibpngOnly(iend_data).status());
}

TEST(PngDecoderTest, PeekBoundsTheWholeBufferScratch) {
  const Image source = MakeGradientImage(300, 200, 4);
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(source));
  ASSERT_OK_AND_ASSIGN(ImageHeader header, PeekPng(AsBytes(png), {}));
  DecodeOptions libpng_only;
  libpng_only.whole_buffer_png = false;
  ASSERT_OK_AND_ASSIGN(ImageHeader libpng_header, PeekPng(AsBytes(png), libpng_only));
  // The gathered IDATs (at most the file) + 200 rows of 1 + 300 x 4 bytes + one zero row.
  EXPECT_GE(header.decoder_scratch_bytes - libpng_header.decoder_scratch_bytes,
            png.size() + 200 * 1201 + 1200);
}

TEST(PngDecoderTest, NonPngInputIsRejected) {
  EXPECT_THAT(Decode(""), StatusIs(kInvalid, "not a PNG file"));
  EXPECT_THAT(Decode("\x89PNG\r\n\x1a"), StatusIs(kInvalid, "not a PNG file"));
  EXPECT_THAT(Decode("\xFF\xD8\xFF\xE0"), StatusIs(kInvalid, "not a PNG file"));
}

}  // namespace
}  // namespace imagefeed
