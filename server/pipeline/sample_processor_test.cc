#include "server/pipeline/sample_processor.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <utility>

#include "common/file_util.h"
#include "common/image_encoders.h"
#include "common/test_support.h"
#include "server/decode/decode_test_util.h"

namespace imagefeed {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string OrDie(absl::StatusOr<std::string> encoded) {
  EXPECT_OK(encoded);
  return encoded.ok() ? *std::move(encoded) : "";
}

TEST(SampleProcessorTest, SixteenBitKeepsPrecisionInFloatAndTruncatesForUint8) {
  Image img = MakeGradientImage(5, 4, 3, 16);
  img.row16(0)[0] = 0x80FF;  // v >> 8 = 128, v / 257 = 128.49
  img.row16(0)[1] = 0x00C8;  // v >> 8 = 0,   v / 257 = 0.78
  auto png = EncodePng(img);
  ASSERT_OK(png);
  SampleTransform t;
  t.layout = TensorLayout::kNHWC;
  t.normalize.mode = NormalizeMode::kNone;
  FloatImage resized;
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 0, &resized));
  std::vector<float> f(5 * 4 * 3);
  WriteSample(resized, t, reinterpret_cast<uint8_t*>(f.data()));
  EXPECT_NEAR(f[0], 0x80FF / 257.0, 1e-3);
  EXPECT_NEAR(f[1], 0x00C8 / 257.0, 1e-3);

  t.dtype = OutputDType::kUint8;
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 0, &resized));
  std::vector<uint8_t> u(5 * 4 * 3);
  WriteSample(resized, t, u.data());
  for (size_t i = 0; i < u.size(); ++i) {
    uint16_t v = reinterpret_cast<const uint16_t*>(img.data.data())[i];
    ASSERT_EQ(u[i], v >> 8) << i;
  }
}

// Values whose float16 / bfloat16 bit patterns are known by hand.
TEST(SampleProcessorTest, HalfDTypesRoundTheNormalizedValues) {
  FloatImage img;
  img.width = 2;
  img.height = 1;
  img.channels = 3;
  img.data = {1.0f, 65504.0f, 65520.0f, 0.0f, -2.0f, 255.0f};  // HWC
  SampleTransform t;
  t.normalize.mode = NormalizeMode::kNone;
  t.layout = TensorLayout::kNCHW;
  auto written = [&](OutputDType dtype) {
    t.dtype = dtype;
    std::vector<uint8_t> slot(t.SampleBytes(1, 2));
    WriteSample(img, t, slot.data());
    std::vector<uint16_t> v(slot.size() / 2);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint16_t>(slot[2 * i] | slot[2 * i + 1] << 8);
    return v;
  };
  EXPECT_EQ(t.element_bytes(), 4u);
  // NCHW: channel 0 = {1, 0}, channel 1 = {65504, -2}, channel 2 = {65520, 255}.
  EXPECT_THAT(written(OutputDType::kFloat16),
              ::testing::ElementsAre(0x3c00, 0x0000, 0x7bff, 0xc000, 0x7c00, 0x5bf8));
  EXPECT_THAT(written(OutputDType::kBFloat16),
              ::testing::ElementsAre(0x3f80, 0x0000, 0x4780, 0xc000, 0x4780, 0x437f));
  EXPECT_EQ(t.element_bytes(), 2u);
  // The normalization is applied before the rounding: 255 * (1/255) = 1.
  t.normalize.mode = NormalizeMode::kRescale;
  img.data = {255.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  EXPECT_EQ(written(OutputDType::kFloat16)[0], 0x3c00);
  EXPECT_EQ(written(OutputDType::kBFloat16)[0], 0x3f80);
}

TEST(SampleProcessorTest, FlipAndCropFollowTheSampleSeed) {
  Image img = MakeGradientImage(20, 10, 3);
  auto png = EncodePng(img);
  ASSERT_OK(png);
  SampleTransform t;
  t.out_width = 8;
  t.out_height = 8;
  t.augment.random_resized_crop = true;
  t.seed = 5;
  FloatImage a, b, c;
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 1, &a));
  ASSERT_OK(DecodeAndResize(Bytes(*png), t, 1, &b));
  EXPECT_EQ(a.data, b.data);
  bool differs = false;
  for (int64_t id = 2; id < 10 && !differs; ++id) {
    ASSERT_OK(DecodeAndResize(Bytes(*png), t, id, &c));
    differs = c.data != a.data;
  }
  EXPECT_TRUE(differs);
}

// Photo-like content (gradients, texture, grain) for the partial-decode
// comparisons: noise alone would make every scaled pixel an outlier.
Image PhotoLike(int width, int height, int channels, uint32_t seed) {
  Image image;
  image.Reset(width, height, channels, 8);
  std::mt19937 rng(seed);
  std::normal_distribution<double> grain(0.0, 3.0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const double v = 128 + 60 * std::sin(x * 0.03 + c) * std::cos(y * 0.02) + 30 * std::sin((x + 2 * y) * 0.2) +
                         grain(rng);
        image.row(y)[x * channels + c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  }
  return image;
}

struct PathOutputs {
  FloatImage partial;
  FloatImage full;
  int decoded_width = 0;  // of the partial path's decoded window
};

PathOutputs BothPaths(const std::string& file, SampleTransform t, int64_t id) {
  PathOutputs out;
  t.decode.partial_jpeg = true;
  EXPECT_OK(DecodeAndResize(Bytes(file), t, id, &out.partial));
  out.decoded_width = ThreadSampleScratch().decoded.width;
  t.decode.partial_jpeg = false;
  EXPECT_OK(DecodeAndResize(Bytes(file), t, id, &out.full));
  return out;
}

// Window decodes (no DCT scaling) give the full decode's output bit for bit:
// the center crop, and RandomResizedCrop draws too small to scale.
TEST(SampleProcessorTest, WindowDecodeEqualsFullDecodeExactly) {
  const std::string exif6 = decode_test::MakeExifPayload(6, /*big_endian=*/false);
  const Image rgb = PhotoLike(640, 480, 3, 1);
  std::vector<uint8_t> cmyk(160 * 120 * 4);
  for (size_t i = 0; i < cmyk.size(); ++i) cmyk[i] = static_cast<uint8_t>(i * 7);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"4:2:0", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k420))},
      {"4:2:2", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k422))},
      {"progressive 4:4:4", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k444, true))},
      {"gray", OrDie(EncodeJpeg(PhotoLike(500, 375, 1, 2), 90))},
      {"cmyk", decode_test::EncodeCmyk(cmyk, 160, 120)},
      {"exif rotate 90", decode_test::WithApp1(OrDie(EncodeJpeg(rgb, 90)), exif6)},
  };
  SampleTransform center;
  center.out_width = center.out_height = 224;
  center.augment.resize_mode = ResizeMode::kShorterSide;
  SampleTransform random = center;
  random.augment.random_resized_crop = true;
  random.augment.random_flip = true;
  random.augment.scale_max = 0.6;  // never 448 x 448 of 640 x 480: no DCT scaling
  for (const auto& [name, file] : files) {
    int windows = 0;
    for (const SampleTransform& t : {center, random}) {
      for (int64_t id = 0; id < 12; ++id) {
        const PathOutputs o = BothPaths(file, t, id);
        ASSERT_EQ(o.partial.data, o.full.data) << name << ", sample " << id;
        windows += o.decoded_width < 360;  // of 640 x 480 (480 x 640 upright)
      }
    }
    if (name != "cmyk") {  // 160 x 120: every window is narrower
      EXPECT_GT(windows, 6) << name << ": the partial path decoded no narrow windows";
    }
  }
}

// How far a fast path's outputs are from the reference path's, over the
// samples added.
struct Differences {
  double sum_abs = 0;
  double sum_sq = 0;
  size_t values = 0;

  // Adds one sample and returns its PSNR in dB.
  double Add(const FloatImage& fast, const FloatImage& reference) {
    double sq = 0;
    for (size_t i = 0; i < reference.data.size(); ++i) {
      const double d = fast.data[i] - reference.data[i];
      sum_abs += std::fabs(d);
      sq += d * d;
    }
    sum_sq += sq;
    values += reference.data.size();
    return 10 * std::log10(255.0 * 255.0 * reference.data.size() / std::max(sq, 1e-9));
  }
  double MeanAbs() const { return sum_abs / values; }
  double Psnr() const { return 10 * std::log10(255.0 * 255.0 * values / sum_sq); }
};

// DCT-scaled decodes (crops at least 2x the output) against the full
// decode + the same resize: README "Partial decode" states the tolerance
// measured on photos (mean |diff| 1.2 levels, 40 dB); pinned here with a
// margin on synthetic and real (libjpeg-turbo's testorig.jpg) images.
TEST(SampleProcessorTest, ScaledDecodeStaysWithinTheStatedTolerance) {
  std::vector<std::pair<std::string, std::string>> files = {
      {"photo-like 4:2:0", OrDie(EncodeJpeg(PhotoLike(640, 480, 3, 3), 90, ChromaSubsampling::k420))},
      {"photo-like 4:4:4", OrDie(EncodeJpeg(PhotoLike(640, 480, 3, 4), 90, ChromaSubsampling::k444))},
      {"photo-like gray", OrDie(EncodeJpeg(PhotoLike(640, 480, 1, 5), 90))},
  };
  if (!SharedDir().empty()) {
    std::vector<uint8_t> bytes;
    ASSERT_OK(ReadFileToBuffer(SharedDir() + "/corpora/jpeg/testorig.jpg", &bytes));
    files.push_back({"testorig.jpg", std::string(bytes.begin(), bytes.end())});
  }
  for (const auto& [name, file] : files) {
    SampleTransform t;
    t.augment.random_resized_crop = true;
    t.out_width = t.out_height = name == "testorig.jpg" ? 32 : 64;
    Differences diff;
    int scaled = 0;
    for (int64_t id = 0; id < 24; ++id) {
      const PathOutputs o = BothPaths(file, t, id);
      ASSERT_EQ(o.partial.data.size(), o.full.data.size());
      if (o.partial.data == o.full.data) continue;  // unscaled: exact (WindowDecodeEqualsFullDecodeExactly)
      ++scaled;
      EXPECT_GE(diff.Add(o.partial, o.full), 30.0) << name << ", sample " << id;
    }
    ASSERT_GT(scaled, 12) << name;
    EXPECT_LE(diff.MeanAbs(), 2.0) << name;
    EXPECT_GE(diff.Psnr(), 36.0) << name;
  }
}

// The resize recipe with and without DecodeOptions::jpeg_ycc_resize, and
// whether the first took the YCbCr-plane path.
struct YccOutputs {
  FloatImage planes;
  FloatImage rgb;
  bool took_planes = false;
};

YccOutputs BothYccPaths(const std::string& file, SampleTransform t, int64_t id) {
  YccOutputs out;
  t.decode.jpeg_ycc_resize = true;
  ThreadSampleScratch().ycc.width = 0;
  EXPECT_OK(DecodeAndResize(Bytes(file), t, id, &out.planes));
  out.took_planes = ThreadSampleScratch().ycc.width != 0;
  t.decode.jpeg_ycc_resize = false;
  EXPECT_OK(DecodeAndResize(Bytes(file), t, id, &out.rgb));
  return out;
}

// Chroma-subsampled JPEGs resized from their planes against the RGB decode
// + the same resize: README "YCbCr-plane resize" states the tolerance
// measured on make_photos.py photos (mean |diff| 0.23 levels, 52.6 dB over
// all, 42 dB for the worst photo); pinned here with a margin on synthetic
// photos and libjpeg-turbo's testorig.jpg (4:2:0).
TEST(SampleProcessorTest, YccPlaneResizeStaysWithinTheStatedTolerance) {
  const Image rgb = PhotoLike(640, 480, 3, 6);
  std::vector<std::pair<std::string, std::string>> files = {
      {"4:2:0", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k420))},
      {"4:2:2", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k422))},
      {"progressive 4:2:0, odd size", OrDie(EncodeJpeg(PhotoLike(501, 377, 3, 7), 85, ChromaSubsampling::k420,
                                                       /*progressive=*/true))},
  };
  if (!SharedDir().empty()) {
    std::vector<uint8_t> bytes;
    ASSERT_OK(ReadFileToBuffer(SharedDir() + "/corpora/jpeg/testorig.jpg", &bytes));
    files.push_back({"testorig.jpg", std::string(bytes.begin(), bytes.end())});
  }
  SampleTransform stretch;  // the resize recipe
  stretch.out_width = stretch.out_height = 224;
  SampleTransform flipped = stretch;  // a flip and another size
  flipped.out_width = 160;
  flipped.out_height = 120;
  flipped.augment.random_flip = true;
  for (const auto& [name, file] : files) {
    for (SampleTransform t : {stretch, flipped}) {
      if (name == "testorig.jpg") {  // 227 x 149: shrink both sides (the vertical pass first)
        t.out_width = t.out_width * 100 / 224;
        t.out_height = t.out_height * 60 / 224;
      }
      Differences diff;
      int taken = 0;
      for (int64_t id = 0; id < 4; ++id) {
        const YccOutputs o = BothYccPaths(file, t, id);
        ASSERT_EQ(o.planes.data.size(), o.rgb.data.size()) << name;
        if (!o.took_planes) continue;
        ++taken;
        for (float v : o.planes.data) {
          ASSERT_GE(v, 0.0f);
          ASSERT_LE(v, 255.0f);
        }
        EXPECT_GE(diff.Add(o.planes, o.rgb), 40.0) << name << ", sample " << id;
      }
      ASSERT_EQ(taken, 4) << name << ", " << t.out_width << "x" << t.out_height << ": the YCbCr-plane path was not taken";
      EXPECT_LE(diff.MeanAbs(), 0.5) << name;
      EXPECT_GE(diff.Psnr(), 45.0) << name;
    }
  }
}

// Everything else goes the RGB way, with the same result as without the
// option: no chroma subsampling across, gray, CMYK, EXIF-oriented, windows,
// upscaling (horizontal pass first) and same-size conversions.
TEST(SampleProcessorTest, YccPlaneResizeDeclinesOtherJpegsExactly) {
  const Image rgb = PhotoLike(320, 240, 3, 8);
  std::vector<uint8_t> cmyk(160 * 120 * 4);
  for (size_t i = 0; i < cmyk.size(); ++i) cmyk[i] = static_cast<uint8_t>(i * 7);
  const std::string jpeg420 = OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k420));
  SampleTransform stretch;
  stretch.out_width = stretch.out_height = 112;
  SampleTransform upscale = stretch;
  upscale.out_width = upscale.out_height = 480;
  SampleTransform same = stretch;
  same.out_width = 320;
  same.out_height = 240;
  SampleTransform center = stretch;
  center.augment.resize_mode = ResizeMode::kShorterSide;
  const std::vector<std::tuple<std::string, std::string, SampleTransform>> cases = {
      {"4:4:4", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k444)), stretch},
      {"gray", OrDie(EncodeJpeg(PhotoLike(320, 240, 1, 9), 90)), stretch},
      {"cmyk", decode_test::EncodeCmyk(cmyk, 160, 120), stretch},
      {"exif rotate 90", decode_test::WithApp1(jpeg420, decode_test::MakeExifPayload(6, false)), stretch},
      {"4:2:0 upscaled", jpeg420, upscale},
      {"4:2:0 same size", jpeg420, same},
      {"4:2:0 centre window", jpeg420, center},
  };
  for (const auto& [name, file, t] : cases) {
    for (int64_t id = 0; id < 3; ++id) {
      const YccOutputs o = BothYccPaths(file, t, id);
      EXPECT_FALSE(o.took_planes) << name;
      ASSERT_EQ(o.planes.data, o.rgb.data) << name << ", sample " << id;
    }
  }
  // And the one that does take it, so the cases above are not vacuous.
  EXPECT_TRUE(BothYccPaths(jpeg420, stretch, 0).took_planes);
}

// The plane path times its decode and its resize as the stages they are
// (the status page and /metrics show them apart).
TEST(SampleProcessorTest, YccPlanePathTimesDecodeAndResize) {
  const std::string file = OrDie(EncodeJpeg(PhotoLike(640, 480, 3, 11), 90, ChromaSubsampling::k420));
  SampleTransform t;
  t.out_width = t.out_height = 224;
  SampleTimings timings;
  FloatImage out;
  ThreadSampleScratch().ycc.width = 0;
  ASSERT_OK(DecodeAndResize(Bytes(file), t, 0, &out, &timings));
  ASSERT_NE(ThreadSampleScratch().ycc.width, 0);
  EXPECT_GT(timings.ns[static_cast<int>(Stage::kDecode)], 0);
  EXPECT_GT(timings.ns[static_cast<int>(Stage::kResize)], 0);
}

// A damaged JPEG fails the same way on both paths.
TEST(SampleProcessorTest, YccPlanePathReportsDecodeErrorsAsTheRgbPath) {
  const std::string file = OrDie(EncodeJpeg(PhotoLike(320, 240, 3, 10), 90, ChromaSubsampling::k420));
  SampleTransform t;
  t.out_width = t.out_height = 112;
  for (size_t keep : {file.size() / 2, file.size() - 2, size_t{700}}) {
    const std::vector<uint8_t> truncated(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(keep));
    FloatImage a, b;
    t.decode.jpeg_ycc_resize = true;
    const absl::Status planes = DecodeAndResize(truncated, t, 0, &a);
    t.decode.jpeg_ycc_resize = false;
    const absl::Status rgb = DecodeAndResize(truncated, t, 0, &b);
    EXPECT_FALSE(planes.ok()) << keep;
    EXPECT_EQ(planes, rgb) << keep;
  }
}

TEST(SampleProcessorTest, DecodeErrorsAreReported) {
  SampleTransform t;
  FloatImage out;
  EXPECT_THAT(DecodeAndResize(Bytes("GIF89a"), t, 0, &out), StatusIs(absl::StatusCode::kInvalidArgument, "not a JPEG or PNG"));
}


struct Fixture {
  std::string name;
  std::string file;
  bool ordinary_photo;  // the estimate must be within 3x of the actual bytes
};

std::vector<Fixture> Fixtures() {
  const Image rgb = MakeGradientImage(640, 480, 3), gray = MakeGradientImage(500, 375, 1);
  std::vector<uint8_t> cmyk(160 * 120 * 4);
  for (size_t i = 0; i < cmyk.size(); ++i) cmyk[i] = static_cast<uint8_t>(i * 7);
  const std::string exif6 = decode_test::MakeExifPayload(6, /*big_endian=*/false);
  return {
      {"jpeg rgb 4:2:0", OrDie(EncodeJpeg(rgb, 90)), true},
      {"jpeg gray", OrDie(EncodeJpeg(gray, 90)), true},
      {"jpeg progressive 4:4:4", OrDie(EncodeJpeg(rgb, 90, ChromaSubsampling::k444, true)), true},
      {"jpeg exif rotate 90", decode_test::WithApp1(OrDie(EncodeJpeg(MakeGradientImage(320, 200, 3), 90)), exif6), true},
      {"jpeg cmyk", decode_test::EncodeCmyk(cmyk, 160, 120), false},
      {"png rgb 8-bit", OrDie(EncodePng(MakeGradientImage(400, 300, 3))), true},
      {"png rgba interlaced", OrDie(EncodePng(MakeGradientImage(300, 400, 4), /*interlace=*/true)), true},
      {"png gray 16-bit", OrDie(EncodePng(MakeGradientImage(256, 192, 1, 16))), true},
      {"png tall column", OrDie(EncodePng(MakeGradientImage(1, 300'000, 1))), false},
  };
}

std::vector<SampleTransform> Transforms() {
  std::vector<SampleTransform> all(7);
  for (int i = 1; i < 7; ++i) all[i].out_width = all[i].out_height = 224;
  all[2].augment.resize_mode = ResizeMode::kShorterSide;
  all[3].augment.random_resized_crop = true;
  all[3].augment.random_flip = true;
  all[4].out_height = 100;  // upscale one side, shrink the other
  all[4].dtype = OutputDType::kUint8;
  all[5].dtype = OutputDType::kFloat16;  // stages the float32 sample before converting it
  all[6].augment.resize_mode = ResizeMode::kShorterSide;  // a sub-pixel box of a window
  all[6].augment.resize_size = 256;
  return all;
}

// Decodes `file` into the thread's scratch from a released state and
// returns the bytes the scratch then holds.
size_t MeasuredScratch(const std::string& file, const SampleTransform& t, int64_t id) {
  TrimSampleScratch(0);
  ThreadSampleScratch().ycc.width = 0;  // set again only by the YCbCr-plane path
  EXPECT_EQ(ThreadSampleScratchBytes(), 0u);
  FloatImage& resized = ThreadSampleScratch().resized;
  EXPECT_OK(DecodeAndResize(Bytes(file), t, id, &resized));
  std::vector<uint8_t> slot(t.SampleBytes(resized.height, resized.width));  // not sample scratch
  WriteSample(resized, t, slot.data());
  return ThreadSampleScratchBytes();
}

TEST(SampleScratchTest, EstimateFromHeaderBoundsTheScratchTouched) {
  for (const Fixture& f : Fixtures()) {
    const std::vector<SampleTransform> transforms = Transforms();
    for (size_t ti = 0; ti < transforms.size(); ++ti) {
      const SampleTransform& t = transforms[ti];
      absl::StatusOr<ImageHeader> header = PeekImageHeader(decode_test::AsBytes(f.file), t.decode);
      ASSERT_OK(header);
      const size_t estimate = SampleScratchBytes(*header, t);
      for (int64_t id = 0; id < 4; ++id) {
        const size_t actual = MeasuredScratch(f.file, t, id);
        EXPECT_LE(actual, estimate) << f.name << ", transform " << ti << ", sample " << id;
        // The sample's own estimate (its crop's window) is tighter and still a bound.
        const size_t own = SampleScratchBytes(*header, t, id);
        EXPECT_LE(actual, own) << f.name << ", transform " << ti << ", sample " << id;
        EXPECT_LE(own, estimate) << f.name << ", transform " << ti << ", sample " << id;
        if (f.ordinary_photo && !t.augment.random_resized_crop) {
          // A JPEG resized from its YCbCr planes touches about half of what
          // its RGB decode would (planes, no RGB image, no intermediate
          // image); the estimate still covers the RGB path, which a JPEG the
          // planes path declines takes.
          const size_t factor = ThreadSampleScratch().ycc.width != 0 ? 4 : 3;
          EXPECT_LE(estimate, factor * actual) << f.name << ", transform " << ti;
        }
      }
    }
  }
}

// A random crop's estimate follows its window, not the image: a small crop
// of a large JPEG reserves a fraction of the whole image's bytes.
TEST(SampleScratchTest, RandomCropsOfJpegsReserveTheirWindow) {
  const std::string jpeg = OrDie(EncodeJpeg(MakeGradientImage(2000, 1500, 3), 90));
  absl::StatusOr<ImageHeader> header = PeekImageHeader(decode_test::AsBytes(jpeg), DecodeOptions{});
  ASSERT_OK(header);
  SampleTransform t;
  t.out_width = t.out_height = 224;
  t.augment.random_resized_crop = true;
  t.augment.scale_max = 0.1;  // crops of at most a tenth of the image
  for (int64_t id = 0; id < 8; ++id) {
    EXPECT_LT(SampleScratchBytes(*header, t, id), header->decoded_bytes() / 2) << id;
    EXPECT_LE(MeasuredScratch(jpeg, t, id), SampleScratchBytes(*header, t, id)) << id;
  }
  t.decode.partial_jpeg = false;  // the whole image is decoded, and reserved
  EXPECT_GT(SampleScratchBytes(*header, t, 0), header->decoded_bytes());
}

TEST(SampleScratchTest, HeaderReportsDecodedLayout) {
  for (const Fixture& f : Fixtures()) {
    absl::StatusOr<ImageHeader> header = PeekImageHeader(decode_test::AsBytes(f.file), DecodeOptions{});
    ASSERT_OK(header);
    Image image;
    ASSERT_OK(DecodeImage(decode_test::AsBytes(f.file), DecodeOptions{}, &image));
    EXPECT_EQ(header->upright_width(), image.width) << f.name;
    EXPECT_EQ(header->upright_height(), image.height) << f.name;
    EXPECT_EQ(header->channels, image.channels) << f.name;
    EXPECT_EQ(header->bit_depth, image.bit_depth) << f.name;
  }
}

TEST(SampleScratchTest, TrimFreesAnOutlierAndKeepsOrdinaryBuffers) {
  SampleTransform t;
  t.out_width = t.out_height = 224;
  const std::string normal = OrDie(EncodeJpeg(MakeGradientImage(640, 480, 3), 90));
  MeasuredScratch(normal, t, 0);
  const size_t ordinary = ThreadSampleScratchBytes();
  TrimSampleScratch(kRetainedScratchBytesPerThread);
  EXPECT_EQ(ThreadSampleScratchBytes(), ordinary);  // nothing freed: no allocation next time

  const std::string huge = OrDie(EncodeJpeg(MakeGradientImage(3000, 2000, 3), 90));
  ASSERT_OK(DecodeAndResize(Bytes(huge), t, 0, &ThreadSampleScratch().resized));
  EXPECT_GT(ThreadSampleScratchBytes(), kRetainedScratchBytesPerThread);
  TrimSampleScratch(kRetainedScratchBytesPerThread);
  EXPECT_LE(ThreadSampleScratchBytes(), kRetainedScratchBytesPerThread);
}

}  // namespace
}  // namespace imagefeed
