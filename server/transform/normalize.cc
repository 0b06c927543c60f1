#include "server/transform/normalize.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace imagefeed {
namespace {

// Divide-no-nan: 0 when the denominator is 0.
inline double SafeDiv(double num, double den) { return den == 0.0 ? 0.0 : num / den; }

// Calls fn(pixel_index, channel, value) for every output value, with gray
// replicated or RGB reduced to luma as `out_channels` asks.
template <typename Fn>
void ForEachOutputValue(const FloatImage& src, int out_channels, Fn fn) {
  const size_t n = static_cast<size_t>(src.width) * src.height;
  const float* p = src.data.data();
  const int sc = src.channels;
  for (size_t i = 0; i < n; ++i, p += sc) {
    if (out_channels == sc) {
      for (int c = 0; c < sc; ++c) fn(i, c, p[c]);
    } else if (sc == 1) {
      for (int c = 0; c < out_channels; ++c) fn(i, c, p[0]);
    } else {  // RGB(A) -> luma
      fn(i, 0, 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]);
    }
  }
}

// v -> scale[c] * v + offset[c] per output channel c.
struct Affine {
  float scale[3] = {1, 1, 1};
  float offset[3] = {0, 0, 0};
};

struct ImageMoments {
  double sum = 0, sum_sq = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  size_t count = 0;
};

ImageMoments Moments(const FloatImage& src, int out_channels) {
  ImageMoments m;
  ForEachOutputValue(src, out_channels, [&](size_t, int, float v) {
    m.sum += v;
    m.sum_sq += static_cast<double>(v) * v;
    m.min = std::min<double>(m.min, v);
    m.max = std::max<double>(m.max, v);
    ++m.count;
  });
  return m;
}

// The coefficients (in double) of the modes that do not depend on the image.
bool DatasetAffine(const NormalizeParams& params, std::array<double, 3>* a, std::array<double, 3>* b) {
  switch (params.mode) {
    case NormalizeMode::kNone:
      a->fill(1);
      b->fill(0);
      return true;
    case NormalizeMode::kRescale:
      a->fill(params.scale);
      b->fill(params.offset);
      return true;
    case NormalizeMode::kStandardize:
      for (int c = 0; c < 3; ++c) {
        (*a)[c] = SafeDiv(1.0 / 255.0, params.std[c]);
        (*b)[c] = params.std[c] == 0.0 ? 0.0 : -params.mean[c] / params.std[c];
      }
      return true;
    case NormalizeMode::kMinMax:
      for (int c = 0; c < 3; ++c) {
        double range = params.max[c] - params.min[c];
        (*a)[c] = SafeDiv(1.0 / 255.0, range);
        (*b)[c] = range == 0.0 ? 0.0 : -params.min[c] / range;
      }
      return true;
    default:
      return false;
  }
}


// Every mode is an affine map a_c * x + b_c of the 8-bit-scale value x (the
// per-image modes after a pass over the image for its moments).
Affine AffineOf(const FloatImage& src, int out_channels, const NormalizeParams& params) {
  std::array<double, 3> a{}, b{};
  auto set_all = [&](double av, double bv) {
    a.fill(av);
    b.fill(bv);
  };
  switch (params.mode) {
    case NormalizeMode::kL2: {
      ImageMoments m = Moments(src, out_channels);
      set_all(SafeDiv(1.0, std::sqrt(m.sum_sq)), 0);
      break;
    }
    case NormalizeMode::kPerImageStandardize: {
      ImageMoments m = Moments(src, out_channels);
      double mean = m.sum / static_cast<double>(std::max<size_t>(m.count, 1));
      double var = std::max(0.0, m.sum_sq / static_cast<double>(std::max<size_t>(m.count, 1)) - mean * mean);
      double adjusted = std::max(std::sqrt(var), 1.0 / std::sqrt(static_cast<double>(std::max<size_t>(m.count, 1))));
      set_all(1.0 / adjusted, -mean / adjusted);
      break;
    }
    case NormalizeMode::kPerImageMinMax: {
      ImageMoments m = Moments(src, out_channels);
      double range = m.max - m.min;
      set_all(SafeDiv(1.0, range), range == 0.0 ? 0.0 : -m.min / range);
      break;
    }
    default:
      DatasetAffine(params, &a, &b);
      break;
  }
  Affine f;
  for (int c = 0; c < 3; ++c) {
    f.scale[c] = static_cast<float>(a[c]);
    f.offset[c] = static_cast<float>(b[c]);
  }
  return f;
}

simd::SlotWrite SlotWriteOf(const FloatImage& src, int out_channels, const Affine& f, TensorLayout layout,
                            simd::SlotType type) {
  simd::SlotWrite how;
  how.src_channels = src.channels;
  how.out_channels = out_channels;
  for (int c = 0; c < 3; ++c) {
    how.scale[c] = f.scale[c];
    how.offset[c] = f.offset[c];
  }
  how.type = type;
  how.planar = layout == TensorLayout::kNCHW;
  return how;
}

size_t Pixels(const FloatImage& src) { return static_cast<size_t>(src.width) * src.height; }

// The kernels take 1 or 3 channels in and out; decoders emit nothing else.
bool KernelApplies(const FloatImage& src, int out_channels) {
  return (src.channels == 1 || src.channels == 3) && (out_channels == 1 || out_channels == 3);
}

}  // namespace

bool ChannelAffine(const NormalizeParams& params, std::array<float, 3>* scale, std::array<float, 3>* offset) {
  std::array<double, 3> a{}, b{};
  if (!DatasetAffine(params, &a, &b)) return false;
  for (int c = 0; c < 3; ++c) {
    (*scale)[c] = static_cast<float>(a[c]);
    (*offset)[c] = static_cast<float>(b[c]);
  }
  return true;
}

void NormalizeIntoSlot(const FloatImage& src, int out_channels, const NormalizeParams& params, TensorLayout layout,
                       simd::SlotType type, void* dst) {
  simd::WriteSlot(src.data.data(), Pixels(src),
                  SlotWriteOf(src, out_channels, AffineOf(src, out_channels, params), layout, type), dst);
}

void NormalizeInto(const FloatImage& src, int out_channels, const NormalizeParams& params, TensorLayout layout,
                   float* dst) {
  if (!KernelApplies(src, out_channels)) return NormalizeIntoReference(src, out_channels, params, layout, dst);
  NormalizeIntoSlot(src, out_channels, params, layout, simd::SlotType::kFloat32, dst);
}

void ConvertToUint8(const FloatImage& src, int out_channels, TensorLayout layout, uint8_t* dst) {
  if (!KernelApplies(src, out_channels)) return ConvertToUint8Reference(src, out_channels, layout, dst);
  simd::WriteSlot(src.data.data(), Pixels(src), SlotWriteOf(src, out_channels, Affine(), layout, simd::SlotType::kUint8),
                  dst);
}

void NormalizeIntoReference(const FloatImage& src, int out_channels, const NormalizeParams& params,
                            TensorLayout layout, float* dst) {
  const Affine f = AffineOf(src, out_channels, params);
  const size_t plane = Pixels(src);
  if (layout == TensorLayout::kNHWC) {
    ForEachOutputValue(src, out_channels,
                       [&](size_t i, int c, float v) { dst[i * out_channels + c] = f.scale[c] * v + f.offset[c]; });
  } else {
    ForEachOutputValue(src, out_channels,
                       [&](size_t i, int c, float v) { dst[c * plane + i] = f.scale[c] * v + f.offset[c]; });
  }
}

void ConvertToUint8Reference(const FloatImage& src, int out_channels, TensorLayout layout, uint8_t* dst) {
  const size_t plane = static_cast<size_t>(src.width) * src.height;
  auto to_u8 = [](float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f))); };
  if (layout == TensorLayout::kNHWC) {
    ForEachOutputValue(src, out_channels, [&](size_t i, int c, float v) { dst[i * out_channels + c] = to_u8(v); });
  } else {
    ForEachOutputValue(src, out_channels, [&](size_t i, int c, float v) { dst[c * plane + i] = to_u8(v); });
  }
}

}  // namespace imagefeed
