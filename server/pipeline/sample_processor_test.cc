#include "server/pipeline/sample_processor.h"

#include "common/image_encoders.h"
#include "common/test_support.h"
#include "server/decode/decode_test_util.h"

namespace imagefeed {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

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

TEST(SampleProcessorTest, DecodeErrorsAreReported) {
  SampleTransform t;
  FloatImage out;
  EXPECT_THAT(DecodeAndResize(Bytes("GIF89a"), t, 0, &out), StatusIs(absl::StatusCode::kInvalidArgument, "not a JPEG or PNG"));
}


std::string OrDie(absl::StatusOr<std::string> encoded) {
  EXPECT_OK(encoded);
  return encoded.ok() ? *std::move(encoded) : "";
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
        if (f.ordinary_photo && !t.augment.random_resized_crop) {
          EXPECT_LE(estimate, 3 * actual) << f.name << ", transform " << ti;
        }
      }
    }
  }
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
