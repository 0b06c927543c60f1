#include "server/transform/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace imagefeed {
namespace {

// Filter taps of one output coordinate: weights for in[first .. first+count).
struct Taps {
  int first = 0;
  int count = 0;
  int offset = 0;  // into ResampleCoeffs::weights
};

// Precomputed, normalized weights for resampling in_size -> out_size along
// one axis (the formulation of PIL's precompute_coeffs with a triangle filter).
struct ResampleCoeffs {
  int in_size = -1;
  int out_size = -1;
  std::vector<Taps> taps;
  std::vector<float> weights;

  void Compute(int in, int out) {
    if (in == in_size && out == out_size) return;
    in_size = in;
    out_size = out;
    taps.assign(out, Taps{});
    weights.clear();
    const double scale = static_cast<double>(in) / out;
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;  // triangle filter support is 1
    for (int o = 0; o < out; ++o) {
      const double center = (o + 0.5) * scale;
      int lo = std::max(static_cast<int>(center - support + 0.5), 0);
      int hi = std::min(static_cast<int>(center + support + 0.5), in);
      if (hi <= lo) {  // numerically impossible for valid sizes; keep one tap
        lo = std::min(std::max(static_cast<int>(center), 0), in - 1);
        hi = lo + 1;
      }
      Taps& t = taps[o];
      t.first = lo;
      t.count = hi - lo;
      t.offset = static_cast<int>(weights.size());
      double total = 0;
      for (int i = lo; i < hi; ++i) {
        double w = 1.0 - std::fabs((i - center + 0.5) / filter_scale);
        w = std::max(w, 0.0);
        weights.push_back(static_cast<float>(w));
        total += w;
      }
      if (total <= 0) {
        for (int i = 0; i < t.count; ++i) weights[t.offset + i] = 1.0f / t.count;
      } else {
        for (int i = 0; i < t.count; ++i) weights[t.offset + i] = static_cast<float>(weights[t.offset + i] / total);
      }
    }
  }
};

template <typename T>
float Sample(const T* p, float inv) {
  return static_cast<float>(*p) * inv;
}

// One output row of the horizontal pass with the channel count known at
// compile time, so the taps of all channels are summed in one sweep (and the
// value scale is applied once per output, not per tap).
template <int C, typename T>
void HorizontalRow(const T* row, const ResampleCoeffs& cx, float inv, float* out) {
  for (int o = 0; o < cx.out_size; ++o) {
    const Taps& t = cx.taps[o];
    const float* w = cx.weights.data() + t.offset;
    const T* p = row + static_cast<size_t>(t.first) * C;
    float acc[C] = {};
    for (int i = 0; i < t.count; ++i, p += C) {
      for (int c = 0; c < C; ++c) acc[c] += w[i] * static_cast<float>(p[c]);
    }
    for (int c = 0; c < C; ++c) out[o * C + c] = acc[c] * inv;
  }
}

template <typename T>
void HorizontalRowAnyChannels(const T* row, int channels, const ResampleCoeffs& cx, float inv, float* out) {
  for (int o = 0; o < cx.out_size; ++o) {
    const Taps& t = cx.taps[o];
    const float* w = cx.weights.data() + t.offset;
    for (int c = 0; c < channels; ++c) {
      const T* p = row + static_cast<size_t>(t.first) * channels + c;
      float acc = 0;
      for (int i = 0; i < t.count; ++i) acc += w[i] * static_cast<float>(p[static_cast<size_t>(i) * channels]);
      out[o * channels + c] = acc * inv;
    }
  }
}

// Horizontal pass over rows [0, src_h): src (in_w x C, type T) -> tmp (out_w x C).
template <typename T>
void HorizontalPass(const T* src, size_t src_stride, int src_h, int channels, float inv,
                    const ResampleCoeffs& cx, float* tmp) {
  const size_t out_row = static_cast<size_t>(cx.out_size) * channels;
  for (int y = 0; y < src_h; ++y) {
    const T* row = src + src_stride * y;
    float* out = tmp + out_row * y;
    switch (channels) {
      case 1:
        HorizontalRow<1>(row, cx, inv, out);
        break;
      case 3:
        HorizontalRow<3>(row, cx, inv, out);
        break;
      default:
        HorizontalRowAnyChannels(row, channels, cx, inv, out);
    }
  }
}

// Vertical pass: tmp (in_h rows of row_len floats) -> dst (out_h rows).
void VerticalPass(const float* tmp, size_t row_len, const ResampleCoeffs& cy, float* dst) {
  for (int o = 0; o < cy.out_size; ++o) {
    const Taps& t = cy.taps[o];
    const float* w = cy.weights.data() + t.offset;
    float* out = dst + row_len * o;
    std::fill(out, out + row_len, 0.0f);
    for (int i = 0; i < t.count; ++i) {
      const float* in = tmp + row_len * (t.first + i);
      const float wi = w[i];
      for (size_t k = 0; k < row_len; ++k) out[k] += wi * in[k];
    }
  }
}

template <typename T>
void Resize(const T* src, size_t src_stride, int in_w, int in_h, int channels, float inv, int out_w, int out_h,
            FloatImage* dst) {
  thread_local ResampleCoeffs cx, cy;
  thread_local std::vector<float> tmp;
  dst->Reset(out_w, out_h, channels);
  if (in_w == out_w && in_h == out_h) {
    for (int y = 0; y < in_h; ++y) {
      const T* row = src + src_stride * y;
      float* out = dst->data.data() + static_cast<size_t>(y) * out_w * channels;
      for (int k = 0; k < in_w * channels; ++k) out[k] = Sample(row + k, inv);
    }
    return;
  }
  cx.Compute(in_w, out_w);
  cy.Compute(in_h, out_h);
  tmp.resize(static_cast<size_t>(out_w) * in_h * channels);
  HorizontalPass(src, src_stride, in_h, channels, inv, cx, tmp.data());
  VerticalPass(tmp.data(), static_cast<size_t>(out_w) * channels, cy, dst->data.data());
}

}  // namespace

void ResizeRegionToFloat(const Image& src, int x, int y, int width, int height, int out_width, int out_height,
                         FloatImage* dst) {
  const size_t stride = static_cast<size_t>(src.width) * src.channels;  // in samples
  const size_t offset = static_cast<size_t>(y) * stride + static_cast<size_t>(x) * src.channels;
  if (src.bit_depth == 16) {
    Resize(reinterpret_cast<const uint16_t*>(src.data.data()) + offset, stride, width, height, src.channels,
           1.0f / 257.0f, out_width, out_height, dst);
  } else {
    Resize(src.data.data() + offset, stride, width, height, src.channels, 1.0f, out_width, out_height, dst);
  }
}

void ResizeToFloat(const Image& src, int out_width, int out_height, FloatImage* dst) {
  ResizeRegionToFloat(src, 0, 0, src.width, src.height, out_width, out_height, dst);
}

void FlipHorizontal(FloatImage* image) {
  const int c = image->channels;
  for (int y = 0; y < image->height; ++y) {
    float* row = image->data.data() + static_cast<size_t>(y) * image->width * c;
    for (int l = 0, r = image->width - 1; l < r; ++l, --r) {
      for (int k = 0; k < c; ++k) std::swap(row[l * c + k], row[r * c + k]);
    }
  }
}

}  // namespace imagefeed
