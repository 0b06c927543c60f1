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

void NormalizeInto(const FloatImage& src, int out_channels, const NormalizeParams& params, TensorLayout layout,
                   float* dst) {
  // Every mode is an affine map a_c * x + b_c of the 8-bit-scale value x.
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
  std::array<float, 3> af{}, bf{};
  for (int c = 0; c < 3; ++c) {
    af[c] = static_cast<float>(a[c]);
    bf[c] = static_cast<float>(b[c]);
  }
  const size_t plane = static_cast<size_t>(src.width) * src.height;
  if (layout == TensorLayout::kNHWC) {
    ForEachOutputValue(src, out_channels,
                       [&](size_t i, int c, float v) { dst[i * out_channels + c] = af[c] * v + bf[c]; });
  } else {
    ForEachOutputValue(src, out_channels, [&](size_t i, int c, float v) { dst[c * plane + i] = af[c] * v + bf[c]; });
  }
}

void ConvertToUint8(const FloatImage& src, int out_channels, TensorLayout layout, uint8_t* dst) {
  const size_t plane = static_cast<size_t>(src.width) * src.height;
  auto to_u8 = [](float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f))); };
  if (layout == TensorLayout::kNHWC) {
    ForEachOutputValue(src, out_channels, [&](size_t i, int c, float v) { dst[i * out_channels + c] = to_u8(v); });
  } else {
    ForEachOutputValue(src, out_channels, [&](size_t i, int c, float v) { dst[c * plane + i] = to_u8(v); });
  }
}

}  // namespace imagefeed
