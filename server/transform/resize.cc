#include "server/transform/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "server/transform/simd_kernels.h"

namespace imagefeed {
namespace {

// An axis's filter weights are stored, and reused for every row or column,
// while they fit in this many floats: every ordinary image. Longer axes (a
// 1 x 99,000,000 PNG is valid) have their weights computed per output in
// chunks instead, since storing them would cost ~8 bytes per input pixel.
constexpr size_t kMaxStoredWeights = size_t{1} << 18;  // 1 MiB
constexpr int kWeightChunk = 1024;

// Filter taps of one output coordinate (simd_kernels.h).
using Taps = ResampleTap;

// Normalized weights for resampling in_size -> out_size along one axis (the
// formulation of PIL's precompute_coeffs with a triangle filter). Stored or
// streamed, a weight is computed by the same expression, so results do not
// depend on the mode. Thread-compatible.
class ResampleCoeffs {
 public:
  // Prepares in -> out sampling [box_start, box_start + box_len) of the in
  // pixels (box 0, in: all of them); a no-op when nothing changed.
  void Compute(int in, double box_start, double box_len, int out);
  int out_size() const { return out_size_; }

  // Weights that resample a signal stored at half resolution (JPEG chroma,
  // each sample centred between the two it covers) as `full` resamples it
  // after libjpeg's fancy 2x upsampling, where full-resolution sample x is
  // 3/4 of half sample x / 2 and 1/4 of its neighbour on x's side (an edge
  // sample standing in for a missing neighbour): the two linear maps
  // composed, so the upsampled signal is never made. `full` must be stored;
  // half_in = ceil(its input size / 2).
  void ComposeUpsample2(const ResampleCoeffs& full, int half_in);

  bool stored() const { return stored_; }
  // Every output's taps and the weights they index; only when stored().
  const Taps* taps() const { return taps_.data(); }
  const float* weights() const { return weights_.data(); }

  // Calls run(first, n, w) over output o's taps in input order, w[j]
  // weighing in[first + j]: once when stored, in chunks otherwise. kStored
  // must equal stored(); as a template argument it keeps the check (and
  // the streaming call) out of the inner loops of the common case.
  template <bool kStored, typename Run>
  void ForEachRun(int o, Run&& run);

  size_t CapacityBytes() const { return imagefeed::CapacityBytes(taps_) + imagefeed::CapacityBytes(weights_); }
  void Release();

  // Upper bound of CapacityBytes() after Compute(in, out) from a released
  // state, for every in <= max_in.
  static size_t BytesBound(int max_in, int out);

 private:
  double Center(int o) const { return box_start_ + (o + 0.5) * scale_; }
  double RawWeight(int i, double center) const {
    return std::max(1.0 - std::fabs((i - center + 0.5) / filter_scale_), 0.0);
  }
  template <typename Run>
  void StreamRuns(int o, Run& run);
  Taps SpanOf(int o) const;
  double Total(const Taps& t, double center) const;
  void Fill(const Taps& t, double center, double total, int start, int n, float* w) const;

  int in_size_ = -1;
  int out_size_ = -1;
  double box_start_ = 0;
  double box_len_ = 0;
  double scale_ = 1;
  double filter_scale_ = 1;  // also the support: the triangle filter's is 1
  bool stored_ = false;
  std::vector<Taps> taps_;
  std::vector<float> weights_;  // every output's when stored_, else one chunk
};

Taps ResampleCoeffs::SpanOf(int o) const {
  const double center = Center(o);
  // Clamped before the conversion, which would be undefined out of range.
  int lo = static_cast<int>(std::max(center - filter_scale_ + 0.5, 0.0));
  int hi = static_cast<int>(std::min(center + filter_scale_ + 0.5, static_cast<double>(in_size_)));
  if (hi <= lo) {  // numerically impossible for valid sizes; keep one tap
    lo = std::min(std::max(static_cast<int>(center), 0), in_size_ - 1);
    hi = lo + 1;
  }
  return Taps{lo, hi - lo, 0};
}

double ResampleCoeffs::Total(const Taps& t, double center) const {
  double total = 0;
  for (int i = t.first; i < t.first + t.count; ++i) total += RawWeight(i, center);
  return total;
}

// Weights of taps [start, start + n) of `t`, rounded to float before the
// normalization as PIL does.
void ResampleCoeffs::Fill(const Taps& t, double center, double total, int start, int n, float* w) const {
  for (int j = 0; j < n; ++j) {
    w[j] = total <= 0 ? 1.0f / t.count
                      : static_cast<float>(static_cast<float>(RawWeight(start + j, center)) / total);
  }
}

void ResampleCoeffs::Compute(int in, double box_start, double box_len, int out) {
  if (in == in_size_ && out == out_size_ && box_start == box_start_ && box_len == box_len_) return;
  in_size_ = in;
  out_size_ = out;
  box_start_ = box_start;
  box_len_ = box_len;
  scale_ = box_len / out;
  filter_scale_ = std::max(scale_, 1.0);
  ResizeForOverwrite(&taps_, out);
  size_t total_taps = 0;
  for (int o = 0; o < out; ++o) {
    taps_[o] = SpanOf(o);
    total_taps += taps_[o].count;
  }
  stored_ = total_taps <= kMaxStoredWeights;
  ResizeForOverwrite(&weights_, stored_ ? total_taps : kWeightChunk);
  if (!stored_) return;
  int offset = 0;
  for (int o = 0; o < out; ++o) {
    Taps& t = taps_[o];
    t.offset = offset;
    Fill(t, Center(o), Total(t, Center(o)), t.first, t.count, weights_.data() + offset);
    offset += t.count;
  }
}

void ResampleCoeffs::ComposeUpsample2(const ResampleCoeffs& full, int half_in) {
  in_size_ = -1;  // not Compute's result: its next call computes afresh
  out_size_ = full.out_size_;
  ResizeForOverwrite(&taps_, out_size_);
  size_t total_taps = 0;
  for (int o = 0; o < out_size_; ++o) {
    const Taps& t = full.taps_[o];
    const int lo = std::max((t.first >> 1) - 1, 0);
    const int hi = std::min(((t.first + t.count - 1) >> 1) + 2, half_in);
    taps_[o] = Taps{lo, hi - lo, static_cast<int>(total_taps)};
    total_taps += hi - lo;
  }
  stored_ = total_taps <= kMaxStoredWeights;
  ResizeForOverwrite(&weights_, stored_ ? total_taps : kWeightChunk);
  if (!stored_) return;
  std::fill(weights_.begin(), weights_.end(), 0.0f);
  for (int o = 0; o < out_size_; ++o) {
    const Taps& t = full.taps_[o];
    const int lo = taps_[o].first;
    float* w = weights_.data() + taps_[o].offset;
    for (int j = 0; j < t.count; ++j) {
      const int x = t.first + j;
      const int near = x >> 1;
      const int far = (x & 1) == 0 ? std::max(near - 1, 0) : std::min(near + 1, half_in - 1);
      const float wx = full.weights_[t.offset + j];
      w[near - lo] += 0.75f * wx;
      w[far - lo] += 0.25f * wx;
    }
  }
}

template <bool kStored, typename Run>
void ResampleCoeffs::ForEachRun(int o, Run&& run) {
  if constexpr (kStored) {
    const Taps& t = taps_[o];
    run(t.first, t.count, static_cast<const float*>(weights_.data() + t.offset));
  } else {
    StreamRuns(o, run);
  }
}

template <typename Run>
void ResampleCoeffs::StreamRuns(int o, Run& run) {
  const Taps& t = taps_[o];
  const double center = Center(o);
  const double total = Total(t, center);
  for (int start = t.first; start < t.first + t.count; start += kWeightChunk) {
    const int n = std::min(kWeightChunk, t.first + t.count - start);
    Fill(t, center, total, start, n, weights_.data());
    run(start, n, static_cast<const float*>(weights_.data()));
  }
}

void ResampleCoeffs::Release() {
  in_size_ = out_size_ = -1;
  std::vector<Taps>().swap(taps_);
  std::vector<float>().swap(weights_);
}

size_t ResampleCoeffs::BytesBound(int max_in, int out) {
  // An output has at most 2 * max(in / out, 1) + 1 taps.
  const size_t taps = 2 * static_cast<size_t>(max_in) + 3 * static_cast<size_t>(out);
  const size_t weights = std::max(std::min(taps, kMaxStoredWeights), static_cast<size_t>(kWeightChunk));
  return static_cast<size_t>(out) * sizeof(Taps) + weights * sizeof(float);
}

// One output row of the horizontal pass with the channel count known at
// compile time, so the taps of all channels are summed in one sweep (and the
// value scale is applied once per output, not per tap).
template <bool kStored, int C, typename T>
void HorizontalRow(const T* row, ResampleCoeffs& cx, float inv, float* out) {
  for (int o = 0; o < cx.out_size(); ++o) {
    float acc[C] = {};
    cx.template ForEachRun<kStored>(o, [&](int first, int n, const float* w) {
      const T* p = row + static_cast<size_t>(first) * C;
      for (int i = 0; i < n; ++i, p += C) {
        for (int c = 0; c < C; ++c) acc[c] += w[i] * static_cast<float>(p[c]);
      }
    });
    for (int c = 0; c < C; ++c) out[static_cast<size_t>(o) * C + c] = acc[c] * inv;
  }
}

template <bool kStored, typename T>
void HorizontalRowAnyChannels(const T* row, int channels, ResampleCoeffs& cx, float inv, float* out) {
  for (int o = 0; o < cx.out_size(); ++o) {
    for (int c = 0; c < channels; ++c) {
      float acc = 0;
      cx.template ForEachRun<kStored>(o, [&](int first, int n, const float* w) {
        const T* p = row + static_cast<size_t>(first) * channels + c;
        for (int i = 0; i < n; ++i) acc += w[i] * static_cast<float>(p[static_cast<size_t>(i) * channels]);
      });
      out[static_cast<size_t>(o) * channels + c] = acc * inv;
    }
  }
}

// Horizontal pass over `rows` rows: src (in_w x C, type T, rows `src_stride`
// elements apart) -> dst (out_w x C, packed), scaled by `inv`.
template <bool kStored, typename T>
void HorizontalPass(const T* src, size_t src_stride, int rows, int channels, float inv, ResampleCoeffs& cx,
                    float* dst) {
  const size_t out_row = static_cast<size_t>(cx.out_size()) * channels;
  for (int y = 0; y < rows; ++y) {
    const T* row = src + src_stride * y;
    float* out = dst + out_row * y;
    switch (channels) {
      case 1:
        HorizontalRow<kStored, 1>(row, cx, inv, out);
        break;
      case 3:
        HorizontalRow<kStored, 3>(row, cx, inv, out);
        break;
      default:
        HorizontalRowAnyChannels<kStored>(row, channels, cx, inv, out);
    }
  }
}

// Vertical pass: src (rows of row_len elements of type T, `src_stride`
// apart) -> dst (cy.out_size() packed rows of row_len floats), unscaled.
template <bool kStored, typename T>
void VerticalPass(const T* src, size_t src_stride, size_t row_len, ResampleCoeffs& cy, float* dst) {
  for (int o = 0; o < cy.out_size(); ++o) {
    float* out = dst + row_len * o;
    std::fill(out, out + row_len, 0.0f);
    cy.template ForEachRun<kStored>(o, [&](int first, int n, const float* w) {
      for (int i = 0; i < n; ++i) {
        const T* in = src + src_stride * (first + i);
        const float wi = w[i];
        for (size_t k = 0; k < row_len; ++k) out[k] += wi * static_cast<float>(in[k]);
      }
    });
  }
}

// The passes, instantiated once for stored and once for streamed weights.
template <typename T>
void HorizontalPass(const T* src, size_t src_stride, int rows, int channels, float inv, ResampleCoeffs& cx,
                    float* dst) {
  if (cx.stored()) {
    HorizontalPass<true>(src, src_stride, rows, channels, inv, cx, dst);
  } else {
    HorizontalPass<false>(src, src_stride, rows, channels, inv, cx, dst);
  }
}

template <typename T>
void VerticalPass(const T* src, size_t src_stride, size_t row_len, ResampleCoeffs& cy, float* dst) {
  if (cy.stored()) {
    VerticalPass<true>(src, src_stride, row_len, cy, dst);
  } else {
    VerticalPass<false>(src, src_stride, row_len, cy, dst);
  }
}

// The calling thread's resize scratch, kept between images until released.
struct ResizeScratch {
  ResampleCoeffs cx;
  ResampleCoeffs cy;
  ResampleCoeffs cx_chroma;  // ResizeYccToFloat's chroma columns
  ResampleCoeffs cy_chroma;  // and rows, when subsampled down
  std::vector<float> tmp;   // the intermediate image between the passes
  std::vector<float> rows;  // the SIMD horizontal pass's float rows
};

ResizeScratch& ThreadScratch() {
  thread_local ResizeScratch scratch;
  return scratch;
}

// The order of the two separable passes, from the sizes alone (so the
// reference and the SIMD path always agree).
//
// Memory first: the intermediate image is out_w x in_h horizontal-first and
// in_w x out_h vertical-first. Horizontal-first is not allowed when the
// width grows while the height shrinks (1 x 99,000,000 -> 224 x 224 would
// need 224 x 99,000,000); vertical-first is not allowed when the height
// grows while the width shrinks, nor when it would keep more than
// kMaxVerticalFirstShrink output widths of columns. So the intermediate never
// exceeds max(source, output), and ResizeScratchBytes bounds it.
//
// Then cost: a pass costs its rows (or columns) times its taps; a tap of the
// horizontal pass costs kHorizontalTapCost taps of the vertical one (strided
// pixel loads against whole-vector row loads; measured in a profile of the
// resize recipe). Shrinking 500x400 photos to 224x224, vertical-first takes
// 0.65-0.75 of the time of horizontal-first (kernels_bench BM_Resize).
constexpr int kMaxVerticalFirstShrink = 4;
constexpr double kHorizontalTapCost = 2.5;

// Taps per output of one axis: the filter's support on both sides, plus one.
double TapsPerOutput(double box_len, int out) { return 2.0 * std::max(box_len / out, 1.0) + 1.0; }

bool VerticalFirst(int in_w, int in_h, const SampleBox& box, int out_w, int out_h) {
  const bool horizontal_ok = in_h <= out_h || out_w <= in_w;
  const bool vertical_ok =
      in_w <= out_w || (out_h <= in_h && in_w <= static_cast<int64_t>(kMaxVerticalFirstShrink) * out_w);
  if (!horizontal_ok || !vertical_ok) return !horizontal_ok;
  const double x_taps = out_w * TapsPerOutput(box.width, out_w);
  const double y_taps = out_h * TapsPerOutput(box.height, out_h);
  const double horizontal_first = kHorizontalTapCost * in_h * x_taps + static_cast<double>(out_w) * y_taps;
  const double vertical_first = static_cast<double>(in_w) * y_taps + kHorizontalTapCost * out_h * x_taps;
  return vertical_first < horizontal_first;
}

template <typename T>
void ConvertToFloat(const T* src, size_t src_stride, int w, int h, int channels, float inv, float* dst) {
  const size_t row_len = static_cast<size_t>(w) * channels;
  for (int y = 0; y < h; ++y) {
    const T* row = src + src_stride * y;
    float* out = dst + row_len * y;
    for (size_t k = 0; k < row_len; ++k) out[k] = static_cast<float>(row[k]) * inv;
  }
}

bool IsWhole(const SampleBox& b, int in_w, int in_h) {
  return b.x == 0 && b.y == 0 && b.width == in_w && b.height == in_h;
}

// The scalar reference: both passes as above, then a separate flip.
template <typename T>
void ResizeReference(const T* src, size_t src_stride, int in_w, int in_h, int channels, float inv,
                     const SampleBox& box, int out_w, int out_h, bool flip, FloatImage* dst) {
  dst->Reset(out_w, out_h, channels);
  if (in_w == out_w && in_h == out_h && IsWhole(box, in_w, in_h)) {
    ConvertToFloat(src, src_stride, in_w, in_h, channels, inv, dst->data.data());
  } else {
    ResizeScratch& s = ThreadScratch();
    s.cx.Compute(in_w, box.x, box.width, out_w);
    s.cy.Compute(in_h, box.y, box.height, out_h);
    if (VerticalFirst(in_w, in_h, box, out_w, out_h)) {
      const size_t row_len = static_cast<size_t>(in_w) * channels;
      ResizeForOverwrite(&s.tmp, row_len * out_h);
      VerticalPass(src, src_stride, row_len, s.cy, s.tmp.data());
      HorizontalPass(static_cast<const float*>(s.tmp.data()), row_len, out_h, channels, inv, s.cx,
                     dst->data.data());
    } else {
      const size_t row_len = static_cast<size_t>(out_w) * channels;
      ResizeForOverwrite(&s.tmp, row_len * in_h);
      HorizontalPass(src, src_stride, in_h, channels, inv, s.cx, s.tmp.data());
      VerticalPass(s.tmp.data(), row_len, row_len, s.cy, dst->data.data());
    }
  }
  if (flip) FlipHorizontal(dst);
}

// ---- The SIMD path: the same sums in the same order (simd_kernels.h).

// Horizontal pass of `rows` rows (in_w x channels, `src_stride` samples
// apart) into packed rows of cx.out_size() pixels, mirrored when `flip`.
template <typename T>
void FastHorizontal(const T* src, size_t src_stride, int rows, int in_w, int channels, float inv, bool flip,
                    const ResampleCoeffs& cx, std::vector<float>* scratch, float* dst) {
  const int out_w = cx.out_size();
  if (channels == 3) {
    ResizeForOverwrite(scratch, simd::HorizontalScratchFloats(in_w));
    simd::HorizontalPass3(src, src_stride, rows, in_w, cx.taps(), cx.weights(), out_w, inv, flip, scratch->data(),
                          dst);
    return;
  }
  // Gray: each row converted once, then a dot product per output.
  if constexpr (!std::is_same_v<T, float>) ResizeForOverwrite(scratch, in_w);
  for (int y = 0; y < rows; ++y) {
    const float* row;
    if constexpr (std::is_same_v<T, float>) {
      row = src + src_stride * y;
    } else {
      simd::ConvertToFloat(src + src_stride * y, in_w, scratch->data());
      row = scratch->data();
    }
    float* out = dst + static_cast<size_t>(out_w) * y;
    for (int o = 0; o < out_w; ++o) {
      const Taps& t = cx.taps()[o];
      const float* w = cx.weights() + t.offset;
      float acc = 0;
      for (int j = 0; j < t.count; ++j) acc += w[j] * row[t.first + j];
      out[flip ? out_w - 1 - o : o] = acc * inv;
    }
  }
}

template <typename T>
void FastVertical(const T* src, size_t src_stride, size_t row_len, const ResampleCoeffs& cy, float* dst) {
  for (int o = 0; o < cy.out_size(); ++o) {
    const Taps& t = cy.taps()[o];
    simd::WeightedRowSum(src, src_stride, t.first, t.count, cy.weights() + t.offset, row_len, dst + row_len * o);
  }
}

template <typename T>
void ConvertFast(const T* src, size_t src_stride, int w, int h, int channels, bool flip, FloatImage* dst) {
  const size_t row_len = static_cast<size_t>(w) * channels;
  for (int y = 0; y < h; ++y) simd::ConvertToFloat(src + src_stride * y, row_len, dst->data.data() + row_len * y);
  if (flip) FlipHorizontal(dst);
}

// False when the SIMD path does not apply (the reference then runs): other
// channel counts, rows wider than the kernels' scratch allows, or weights too
// many to store (axes of millions of pixels).
template <typename T>
bool ResizeFast(const T* src, size_t src_stride, int in_w, int in_h, int channels, float inv, const SampleBox& box,
                int out_w, int out_h, bool flip, FloatImage* dst) {
  if ((channels != 1 && channels != 3) || in_w > simd::kMaxRowWidth) return false;
  if (in_w == out_w && in_h == out_h && IsWhole(box, in_w, in_h)) {
    if (inv != 1.0f) return false;  // 16-bit: the reference's scaled conversion
    dst->Reset(out_w, out_h, channels);
    ConvertFast(src, src_stride, in_w, in_h, channels, flip, dst);
    return true;
  }
  ResizeScratch& s = ThreadScratch();
  s.cx.Compute(in_w, box.x, box.width, out_w);
  s.cy.Compute(in_h, box.y, box.height, out_h);
  if (!s.cx.stored() || !s.cy.stored()) return false;
  dst->Reset(out_w, out_h, channels);
  if (VerticalFirst(in_w, in_h, box, out_w, out_h)) {
    const size_t row_len = static_cast<size_t>(in_w) * channels;
    // One more float: HorizontalPass3 reads one past a float row's last pixel.
    ResizeForOverwrite(&s.tmp, row_len * out_h + 1);
    s.tmp.back() = 0.0f;
    FastVertical(src, src_stride, row_len, s.cy, s.tmp.data());
    FastHorizontal(static_cast<const float*>(s.tmp.data()), row_len, out_h, in_w, channels, inv, flip, s.cx, &s.rows,
                   dst->data.data());
  } else {
    const size_t row_len = static_cast<size_t>(out_w) * channels;
    ResizeForOverwrite(&s.tmp, row_len * in_h);
    FastHorizontal(src, src_stride, in_h, in_w, channels, inv, flip, s.cx, &s.rows, s.tmp.data());
    FastVertical(static_cast<const float*>(s.tmp.data()), row_len, row_len, s.cy, dst->data.data());
  }
  return true;
}

// Whether `img`'s planes have the sizes its subsampling implies and lie
// inside its data (ResizeYccToFloat reads them without further checks).
bool WellFormed(const YccImage& img) {
  if (img.width < 1 || img.height < 1) return false;
  const int cw = (img.width + img.h_sub - 1) / img.h_sub, ch = (img.height + img.v_sub - 1) / img.v_sub;
  for (int p = 0; p < 3; ++p) {
    const YccImage::Plane& plane = img.planes[p];
    if (plane.width != (p == 0 ? img.width : cw) || plane.height != (p == 0 ? img.height : ch) ||
        plane.stride < static_cast<size_t>(plane.width) || plane.offset > img.data.size() ||
        (img.data.size() - plane.offset) / plane.stride < static_cast<size_t>(plane.height)) {
      return false;
    }
  }
  return true;
}

// ResizeYccToFloat's strip of rows of the three planes after the vertical pass.
size_t YccStripRowFloats(const int* widths) {
  return simd::kYccStripRows * (static_cast<size_t>(widths[0]) + widths[1] + widths[2]);
}

// Calls fn(samples, stride, inv) with the region's first sample, as uint8_t
// or uint16_t.
template <typename Fn>
void WithRegion(const Image& src, int x, int y, Fn&& fn) {
  const size_t stride = static_cast<size_t>(src.width) * src.channels;  // in samples
  const size_t offset = static_cast<size_t>(y) * stride + static_cast<size_t>(x) * src.channels;
  if (src.bit_depth == 16) {
    fn(reinterpret_cast<const uint16_t*>(src.data.data()) + offset, stride, 1.0f / 257.0f);
  } else {
    fn(src.data.data() + offset, stride, 1.0f);
  }
}

}  // namespace

size_t ResizeScratchBytes(int max_width, int max_height, int channels, int out_width, int out_height) {
  const size_t w = max_width, h = max_height, ow = out_width, oh = out_height;
  // A w' x h' region (w' <= w, h' <= h) needs w' * oh pixels vertical-first
  // (then w' <= ow, or oh <= h' and w' <= kMaxVerticalFirstShrink * ow), or
  // ow * h' horizontal-first (then h' <= oh or ow <= w'): VerticalFirst.
  size_t pixels = std::max(std::min(w, ow) * oh, ow * std::min(h, oh));
  if (ow <= w) pixels = std::max(pixels, ow * h);
  if (oh <= h) pixels = std::max(pixels, std::min(w, kMaxVerticalFirstShrink * ow) * oh);
  // The SIMD horizontal pass's rows (it runs only up to kMaxRowWidth) and
  // the float it may read past the intermediate image, or ResizeYccToFloat's
  // strips (luma at most kMaxRowWidth wide, chroma half as wide rounded up).
  const int simd_w = std::min(max_width, simd::kMaxRowWidth);
  const int ycc_widths[3] = {simd_w, simd_w / 2 + 1, simd_w / 2 + 1};
  const size_t ycc_strips =
      channels == 3 ? YccStripRowFloats(ycc_widths) + simd::YccStripScratchFloats(ycc_widths, out_width) : 0;
  const size_t simd_rows = std::max(simd::HorizontalScratchFloats(simd_w) + 1, ycc_strips) * sizeof(float);
  // ResizeYccToFloat's chroma planes (at most kMaxRowWidth, subsampled) have
  // weights of their own.
  // (ComposeUpsample2: at most half the luma taps + 2 per output).
  const size_t chroma =
      channels == 3 ? ResampleCoeffs::BytesBound(simd_w / 2 + out_width, out_width) +
                          ResampleCoeffs::BytesBound(std::min(max_height, simd::kMaxRowWidth) / 2 + out_height,
                                                     out_height)
                    : 0;
  return pixels * channels * sizeof(float) + simd_rows + ResampleCoeffs::BytesBound(max_width, out_width) +
         ResampleCoeffs::BytesBound(max_height, out_height) + chroma;
}

size_t ThreadResizeScratchBytes() {
  ResizeScratch& s = ThreadScratch();
  return CapacityBytes(s.tmp) + CapacityBytes(s.rows) + s.cx.CapacityBytes() + s.cy.CapacityBytes() +
         s.cx_chroma.CapacityBytes() + s.cy_chroma.CapacityBytes();
}

void ReleaseResizeScratch() {
  ResizeScratch& s = ThreadScratch();
  std::vector<float>().swap(s.tmp);
  std::vector<float>().swap(s.rows);
  s.cx.Release();
  s.cy.Release();
  s.cx_chroma.Release();
  s.cy_chroma.Release();
}

void ResizeRegionBoxToFloat(const Image& src, int x, int y, int width, int height, const SampleBox& box,
                            int out_width, int out_height, bool flip, FloatImage* dst) {
  SampleBox b = box;
  if (b.width <= 0 || b.height <= 0) b = SampleBox{0, 0, static_cast<double>(width), static_cast<double>(height)};
  WithRegion(src, x, y, [&](const auto* samples, size_t stride, float inv) {
    if (!ResizeFast(samples, stride, width, height, src.channels, inv, b, out_width, out_height, flip, dst)) {
      ResizeReference(samples, stride, width, height, src.channels, inv, b, out_width, out_height, flip, dst);
    }
  });
}

void ResizeRegionBoxToFloat(const Image& src, int x, int y, int width, int height, const SampleBox& box,
                            int out_width, int out_height, FloatImage* dst) {
  ResizeRegionBoxToFloat(src, x, y, width, height, box, out_width, out_height, /*flip=*/false, dst);
}

void ResizeRegionToFloat(const Image& src, int x, int y, int width, int height, int out_width, int out_height,
                         bool flip, FloatImage* dst) {
  ResizeRegionBoxToFloat(src, x, y, width, height, SampleBox{}, out_width, out_height, flip, dst);
}

void ResizeRegionToFloatReference(const Image& src, int x, int y, int width, int height, int out_width,
                                  int out_height, bool flip, FloatImage* dst) {
  const SampleBox b{0, 0, static_cast<double>(width), static_cast<double>(height)};
  WithRegion(src, x, y, [&](const auto* samples, size_t stride, float inv) {
    ResizeReference(samples, stride, width, height, src.channels, inv, b, out_width, out_height, flip, dst);
  });
}

void ResizeRegionToFloat(const Image& src, int x, int y, int width, int height, int out_width, int out_height,
                         FloatImage* dst) {
  ResizeRegionBoxToFloat(src, x, y, width, height, SampleBox{}, out_width, out_height, dst);
}

void ResizeToFloat(const Image& src, int out_width, int out_height, FloatImage* dst) {
  ResizeRegionToFloat(src, 0, 0, src.width, src.height, out_width, out_height, dst);
}

bool YccResizeApplies(int width, int height, const SampleBox& box, int out_width, int out_height) {
  SampleBox b = box;
  if (b.width <= 0 || b.height <= 0) b = SampleBox{0, 0, static_cast<double>(width), static_cast<double>(height)};
  return width <= simd::kMaxRowWidth && height <= simd::kMaxRowWidth &&
         VerticalFirst(width, height, b, out_width, out_height);
}

bool ResizeYccToFloat(const YccImage& src, const SampleBox& box, int out_width, int out_height, bool flip,
                      FloatImage* dst) {
  if (!YccResizeApplies(src.width, src.height, box, out_width, out_height)) return false;
  if (src.h_sub != 2 || (src.v_sub != 1 && src.v_sub != 2) || !WellFormed(src)) return false;
  SampleBox b = box;
  if (b.width <= 0 || b.height <= 0) {
    b = SampleBox{0, 0, static_cast<double>(src.width), static_cast<double>(src.height)};
  }
  ResizeScratch& s = ThreadScratch();
  // Chroma is filtered as libjpeg's fancy upsampling followed by the luma
  // filter would filter it (ComposeUpsample2), on its own samples.
  s.cx.Compute(src.width, b.x, b.width, out_width);
  s.cy.Compute(src.height, b.y, b.height, out_height);
  if (!s.cx.stored() || !s.cy.stored()) return false;
  s.cx_chroma.ComposeUpsample2(s.cx, src.planes[1].width);
  ResampleCoeffs& cyc = src.v_sub == 1 ? s.cy : s.cy_chroma;
  if (src.v_sub != 1) cyc.ComposeUpsample2(s.cy, src.planes[1].height);
  if (!s.cx_chroma.stored() || !cyc.stored()) return false;
  // Strips of kYccStripRows output rows: each plane's vertical pass into
  // rows of s.rows, then the strip's horizontal pass and colour conversion.
  const int widths[3] = {src.width, src.planes[1].width, src.planes[2].width};
  const size_t strip_rows = YccStripRowFloats(widths);
  ResizeForOverwrite(&s.rows, strip_rows + simd::YccStripScratchFloats(widths, out_width));
  const float* rows[3];
  float* row_at[3];
  size_t at = 0;
  for (int p = 0; p < 3; ++p) {
    row_at[p] = s.rows.data() + at;
    rows[p] = row_at[p];
    at += simd::kYccStripRows * static_cast<size_t>(widths[p]);
  }
  const ResampleCoeffs* cy[3] = {&s.cy, &cyc, &cyc};
  const ResampleTap* taps[3] = {s.cx.taps(), s.cx_chroma.taps(), s.cx_chroma.taps()};
  const float* weights[3] = {s.cx.weights(), s.cx_chroma.weights(), s.cx_chroma.weights()};
  dst->Reset(out_width, out_height, 3);
  for (int o0 = 0; o0 < out_height; o0 += simd::kYccStripRows) {
    const int n = std::min(simd::kYccStripRows, out_height - o0);
    for (int p = 0; p < 3; ++p) {
      const size_t w = static_cast<size_t>(widths[p]);
      for (int i = 0; i < n; ++i) {
        const Taps& t = cy[p]->taps()[o0 + i];
        simd::WeightedRowSum(src.row(p, 0), src.planes[p].stride, t.first, t.count, cy[p]->weights() + t.offset, w,
                             row_at[p] + w * i);
      }
    }
    simd::YccStripToRgb(rows, widths, n, taps, weights, out_width, flip, s.rows.data() + strip_rows,
                        dst->data.data() + static_cast<size_t>(o0) * out_width * 3);
  }
  return true;
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
