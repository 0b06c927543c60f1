// Steady state of a worker: once its scratch has seen a sample size, decoding,
// resizing and writing more samples of that size allocates nothing on the
// C++ heap. Replaces the global operator new to count (its own binary, so no
// other test is affected). libjpeg-turbo's internal malloc calls are not C++
// allocations and are not counted here.
#include <atomic>
#include <cstdlib>
#include <new>

#include "common/image_encoders.h"
#include "common/test_support.h"
#include "server/pipeline/sample_processor.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace imagefeed {
namespace {

std::vector<uint8_t> Jpeg(int w, int h, int channels) {
  auto s = EncodeJpeg(MakeGradientImage(w, h, channels), 90);
  EXPECT_TRUE(s.ok());
  return std::vector<uint8_t>(s->begin(), s->end());
}

// Allocations of samples [first, first + n) after a warm-up of 4 samples.
long SteadyStateAllocations(const std::vector<uint8_t>& file, const SampleTransform& t) {
  std::vector<uint8_t> slot(t.SampleBytes(t.out_height, t.out_width));
  FloatImage& resized = ThreadSampleScratch().resized;
  for (int64_t id = 0; id < 4; ++id) {
    EXPECT_OK(DecodeAndResize(file, t, id, &resized));
    WriteSample(resized, t, slot.data());
  }
  allocations = 0;
  counting = true;
  for (int64_t id = 4; id < 24; ++id) {
    if (!DecodeAndResize(file, t, id, &resized).ok()) ADD_FAILURE();
    WriteSample(resized, t, slot.data());
  }
  counting = false;
  return allocations.load();
}

TEST(SampleAllocationTest, SteadyStateAllocatesNothing) {
  const std::vector<uint8_t> rgb = Jpeg(500, 375, 3), gray = Jpeg(333, 500, 1);
  for (OutputDType dtype : {OutputDType::kFloat32, OutputDType::kUint8}) {
    for (ResizeMode mode : {ResizeMode::kStretch, ResizeMode::kShorterSide}) {
      SampleTransform t;
      t.out_width = t.out_height = 224;
      t.dtype = dtype;
      t.normalize.mode = NormalizeMode::kStandardize;
      t.normalize.mean = {0.5, 0.5, 0.5};
      t.normalize.std = {0.25, 0.25, 0.25};
      t.augment.resize_mode = mode;
      t.augment.random_flip = true;
      for (TensorLayout layout : {TensorLayout::kNCHW, TensorLayout::kNHWC}) {
        t.layout = layout;
        EXPECT_EQ(SteadyStateAllocations(rgb, t), 0) << static_cast<int>(dtype) << " " << static_cast<int>(mode);
        EXPECT_EQ(SteadyStateAllocations(gray, t), 0) << static_cast<int>(dtype) << " " << static_cast<int>(mode);
      }
    }
  }
}

}  // namespace
}  // namespace imagefeed
