// Highway compiles this file once per target (foreach_target.h re-includes
// it); the HWY_ONCE part at the end defines the dispatching entry points.
// Built with -ffp-contract=off (transform/CMakeLists.txt): a fused
// multiply-add would round differently from the scalar reference.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "server/transform/simd_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h must come first.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "server/transform/simd_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace imagefeed {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;


// Loads Lanes(df) samples of type T as floats (exact: every u8/u16 is a float).
template <typename T, class DF>
HWY_INLINE hn::Vec<DF> LoadAsFloat(DF df, const T* HWY_RESTRICT p) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(df, p);
  } else {
    const hn::Rebind<int32_t, DF> di;
    const hn::Rebind<T, DF> dt;
    return hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(dt, p)));
  }
}

template <typename T, class DF>
HWY_INLINE hn::Vec<DF> ToFloat(DF df, hn::Vec<hn::Rebind<T, DF>> v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    const hn::Rebind<int32_t, DF> di;
    return hn::ConvertTo(df, hn::PromoteTo(di, v));
  }
}

template <typename T>
void ConvertT(const T* HWY_RESTRICT src, size_t n, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  size_t k = 0;
  for (; k + N <= n; k += N) hn::StoreU(LoadAsFloat(df, src + k), df, dst + k);
  for (; k < n; ++k) dst[k] = static_cast<float>(src[k]);
}

void ConvertU8(const uint8_t* src, size_t n, float* dst) { ConvertT(src, n, dst); }
void ConvertU16(const uint16_t* src, size_t n, float* dst) { ConvertT(src, n, dst); }

// dst[k] = w[0] * row0[k] + w[1] * row1[k] + ..., left to right, like the
// reference's 0 + w[0] * row0[k] + ... (adding to +0 changes nothing for
// these non-negative terms). Four vectors per step keep the sums in
// registers across the taps.
template <typename T>
void RowSumT(const T* HWY_RESTRICT src, size_t stride, int first, int taps, const float* HWY_RESTRICT w, size_t n,
             float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const T* base = src + static_cast<size_t>(first) * stride;
  size_t k = 0;
  for (; k + 4 * N <= n; k += 4 * N) {
    const T* r = base + k;
    auto w0 = hn::Set(df, w[0]);
    auto a0 = hn::Mul(w0, LoadAsFloat(df, r));
    auto a1 = hn::Mul(w0, LoadAsFloat(df, r + N));
    auto a2 = hn::Mul(w0, LoadAsFloat(df, r + 2 * N));
    auto a3 = hn::Mul(w0, LoadAsFloat(df, r + 3 * N));
    for (int i = 1; i < taps; ++i) {
      r = base + static_cast<size_t>(i) * stride + k;
      const auto wi = hn::Set(df, w[i]);
      a0 = hn::Add(a0, hn::Mul(wi, LoadAsFloat(df, r)));
      a1 = hn::Add(a1, hn::Mul(wi, LoadAsFloat(df, r + N)));
      a2 = hn::Add(a2, hn::Mul(wi, LoadAsFloat(df, r + 2 * N)));
      a3 = hn::Add(a3, hn::Mul(wi, LoadAsFloat(df, r + 3 * N)));
    }
    hn::StoreU(a0, df, dst + k);
    hn::StoreU(a1, df, dst + k + N);
    hn::StoreU(a2, df, dst + k + 2 * N);
    hn::StoreU(a3, df, dst + k + 3 * N);
  }
  for (; k + N <= n; k += N) {
    auto a = hn::Mul(hn::Set(df, w[0]), LoadAsFloat(df, base + k));
    for (int i = 1; i < taps; ++i) {
      a = hn::Add(a, hn::Mul(hn::Set(df, w[i]), LoadAsFloat(df, base + static_cast<size_t>(i) * stride + k)));
    }
    hn::StoreU(a, df, dst + k);
  }
  for (; k < n; ++k) {
    float a = w[0] * static_cast<float>(base[k]);
    for (int i = 1; i < taps; ++i) a += w[i] * static_cast<float>(base[static_cast<size_t>(i) * stride + k]);
    dst[k] = a;
  }
}

void RowSumF32(const float* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst) {
  RowSumT(src, stride, first, taps, w, n, dst);
}
void RowSumU8(const uint8_t* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst) {
  RowSumT(src, stride, first, taps, w, n, dst);
}
void RowSumU16(const uint16_t* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst) {
  RowSumT(src, stride, first, taps, w, n, dst);
}

#if HWY_TARGET == HWY_SCALAR
// One lane: the reference's loop (HWY_SCALAR is the fallback of CPUs without SSSE3).
template <typename T>
void Horizontal3T(const T* src, size_t src_stride, int rows, int, const ResampleTap* taps, const float* weights,
                  int out_w, float inv, bool flip, float*, float* dst) {
  for (int y = 0; y < rows; ++y) {
    const T* row = src + src_stride * y;
    float* out = dst + static_cast<size_t>(out_w) * 3 * y;
    for (int o = 0; o < out_w; ++o) {
      const ResampleTap t = taps[o];
      float acc[3] = {};
      for (int j = 0; j < t.count; ++j) {
        for (int c = 0; c < 3; ++c) acc[c] += weights[t.offset + j] * static_cast<float>(row[3 * (t.first + j) + c]);
      }
      const int col = flip ? out_w - 1 - o : o;
      for (int c = 0; c < 3; ++c) out[3 * col + c] = acc[c] * inv;
    }
  }
}
#else
// A vector of Lanes(d) / 4 pixels, 4 floats each (R, G, B and the next
// pixel's R, which is ignored): the pixel at float `off` of rows[0], rows[1], ...
template <class D>
HWY_INLINE hn::Vec<D> LoadPixelGroup(D d, const float* const* rows, size_t off) {
  if constexpr (hn::MaxLanes(D()) <= 4) {
    return hn::LoadU(d, rows[0] + off);
  } else {
    const hn::Half<D> dh;
    constexpr size_t kHalfRows = hn::MaxLanes(D()) / 8;
    return hn::Combine(d, LoadPixelGroup(dh, rows + kHalfRows, off), LoadPixelGroup(dh, rows, off));
  }
}

// Stores each 4-float block of `v` (one pixel of each row, as
// LoadPixelGroup loads them) at float `col` of rows[0], rows[1], ...: whole
// 128-bit stores, instead of a vector store and 3-float copies out of it.
template <class D>
HWY_INLINE void StorePixelGroup(D d, hn::Vec<D> v, float* const* rows, size_t col) {
  if constexpr (hn::MaxLanes(D()) <= 4) {
    hn::StoreU(v, d, rows[0] + col);
  } else {
    const hn::Half<D> dh;
    constexpr size_t kHalfRows = hn::MaxLanes(D()) / 8;
    StorePixelGroup(dh, hn::LowerHalf(dh, v), rows, col);
    StorePixelGroup(dh, hn::UpperHalf(dh, v), rows + kHalfRows, col);
  }
}

// Horizontal pass of kVecs * Lanes(d) / 4 rows at once: all rows share the
// taps, so one broadcast weight serves every row's RGB in one multiply and
// add, and the kVecs independent sums hide the add latency and share one
// loop over the output's taps (whose varying count is a branch per output).
// Per channel the sum is the reference's: taps in order, then times inv.
// Rows of T other than float are first converted (each source sample once)
// into `scratch`; float rows are read in place and need one readable float
// after each row's last pixel.
template <size_t kVecs, class D, typename T>
HWY_INLINE void HorizontalGroup(D d, const T* src, size_t src_stride, int in_w, const ResampleTap* HWY_RESTRICT taps,
                                const float* HWY_RESTRICT weights, int out_w, float inv, bool flip,
                                float* HWY_RESTRICT scratch, float* HWY_RESTRICT dst) {
  constexpr size_t kVecRows = hn::MaxLanes(D()) / 4;
  constexpr size_t kRows = kVecs * kVecRows;
  const float* rows[kRows];
  const size_t row_len = 3 * static_cast<size_t>(in_w);
  for (size_t r = 0; r < kRows; ++r) {
    if constexpr (std::is_same_v<T, float>) {
      rows[r] = src + r * src_stride;
    } else {
      float* row = scratch + r * (row_len + 1);
      ConvertT(src + r * src_stride, row_len, row);
      row[row_len] = 0.0f;
      rows[r] = row;
    }
  }
  const size_t out_row = static_cast<size_t>(out_w) * 3;
  float* out_rows[kRows];
  for (size_t r = 0; r < kRows; ++r) out_rows[r] = dst + r * out_row;
  const auto vinv = hn::Set(d, inv);
  // Columns are written left to right (outputs right to left when flipped),
  // each pixel as a whole 4-float block whose 4th float the next pixel
  // overwrites; the last one goes through `lanes`, 3 floats a row.
  for (int i = 0; i < out_w; ++i) {
    const int o = flip ? out_w - 1 - i : i;
    const ResampleTap t = taps[o];
    const float* w = weights + t.offset;
    const size_t off = 3 * static_cast<size_t>(t.first);
    hn::Vec<D> acc[kVecs];
    const auto w0 = hn::Set(d, w[0]);
    for (size_t v = 0; v < kVecs; ++v) acc[v] = hn::Mul(w0, LoadPixelGroup(d, rows + v * kVecRows, off));
    for (int j = 1; j < t.count; ++j) {
      const auto wj = hn::Set(d, w[j]);
      const size_t at = off + 3 * static_cast<size_t>(j);
      for (size_t v = 0; v < kVecs; ++v) acc[v] = hn::Add(acc[v], hn::Mul(wj, LoadPixelGroup(d, rows + v * kVecRows, at)));
    }
    const size_t col = 3 * static_cast<size_t>(i);
    for (size_t v = 0; v < kVecs; ++v) {
      acc[v] = hn::Mul(acc[v], vinv);
      if (i + 1 < out_w) {
        StorePixelGroup(d, acc[v], out_rows + v * kVecRows, col);
      } else {
        HWY_ALIGN float lanes[hn::MaxLanes(D())];
        hn::Store(acc[v], d, lanes);
        for (size_t r = 0; r < kVecRows; ++r) {
          std::memcpy(out_rows[v * kVecRows + r] + col, lanes + 4 * r, 3 * sizeof(float));
        }
      }
    }
  }
}

template <typename T>
void Horizontal3T(const T* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps, const float* weights,
                  int out_w, float inv, bool flip, float* scratch, float* dst) {
  // At most 256-bit vectors (2 rows): on AVX-512 the 512-bit combine of
  // four 128-bit pixel loads costs 3 shuffles a tap (all on one port),
  // which made the 512-bit kernel slower than the 256-bit one.
  const hn::CappedTag<float, 8> d;
  constexpr int kVecRows = static_cast<int>(hn::MaxLanes(decltype(d)()) / 4);  // 1 on SSE4, else 2
  constexpr int kGroupVectors = 4;  // vectors of rows per loop over the taps
  static_assert(kVecRows >= 1 && kGroupVectors * kVecRows <= kMaxGroupRows, "target lanes");
  const hn::CappedTag<float, 4> d4;
  const size_t out_row = static_cast<size_t>(out_w) * 3;
  int y = 0;
  for (; y + kGroupVectors * kVecRows <= rows; y += kGroupVectors * kVecRows) {
    HorizontalGroup<kGroupVectors>(d, src + src_stride * y, src_stride, in_w, taps, weights, out_w, inv, flip,
                                   scratch, dst + out_row * y);
  }
  for (; y + kVecRows <= rows; y += kVecRows) {
    HorizontalGroup<1>(d, src + src_stride * y, src_stride, in_w, taps, weights, out_w, inv, flip, scratch,
                       dst + out_row * y);
  }
  for (; y < rows; ++y) {
    HorizontalGroup<1>(d4, src + src_stride * y, src_stride, in_w, taps, weights, out_w, inv, flip, scratch,
                       dst + out_row * y);
  }
}

#endif  // HWY_TARGET == HWY_SCALAR

void Horizontal3U8(const uint8_t* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                   const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst) {
  Horizontal3T(src, src_stride, rows, in_w, taps, weights, out_w, inv, flip, scratch, dst);
}
void Horizontal3U16(const uint16_t* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                    const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst) {
  Horizontal3T(src, src_stride, rows, in_w, taps, weights, out_w, inv, flip, scratch, dst);
}
void Horizontal3F32(const float* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                    const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst) {
  Horizontal3T(src, src_stride, rows, in_w, taps, weights, out_w, inv, flip, scratch, dst);
}

// ---- Transposed planes (resize.cc's ResizeYccToFloat).

// 8 x 8 blocks of floats are transposed in registers where vectors hold 8
// floats (AVX2, AVX-512 at 256 bits); other targets take the scalar loops.
using D8 = hn::CappedTag<float, 8>;
constexpr bool kBlocks8 = HWY_TARGET != HWY_SCALAR && hn::MaxLanes(D8()) == 8;

#if HWY_TARGET != HWY_SCALAR
// r[0..7] are the rows of an 8 x 8 block; afterwards r[i] is its column i.
HWY_INLINE void Transpose8x8(hn::Vec<D8>* r) {
  const D8 d;
  const hn::Repartition<double, D8> dd;
  hn::Vec<D8> t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = hn::InterleaveLower(d, r[i], r[i + 1]);  // a0 b0 a1 b1 | a4 b4 a5 b5
    t[i + 1] = hn::InterleaveUpper(d, r[i], r[i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  hn::Vec<D8> u[8];
  for (int i = 0; i < 8; i += 4) {
    for (int k = 0; k < 2; ++k) {
      const auto lo = hn::BitCast(dd, t[i + k]), hi = hn::BitCast(dd, t[i + 2 + k]);
      u[i + 2 * k] = hn::BitCast(d, hn::InterleaveLower(dd, lo, hi));      // column 2k   | 2k + 4
      u[i + 2 * k + 1] = hn::BitCast(d, hn::InterleaveUpper(dd, lo, hi));  // column 2k+1 | 2k + 5
    }
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = hn::ConcatLowerLower(d, u[4 + c], u[c]);
    r[c + 4] = hn::ConcatUpperUpper(d, u[4 + c], u[c]);
  }
}
#endif

// JFIF's YCbCr -> RGB (the coefficients libjpeg rounds to 16-bit fixed
// point), in float, clamped to [0, 255].
constexpr float kCrToR = 1.402f, kCbToG = 0.344136f, kCrToG = 0.714136f, kCbToB = 1.772f;

HWY_INLINE float Clamp255(float v) { return std::min(std::max(v, 0.0f), 255.0f); }

HWY_INLINE void YccToRgbScalar(float y, float cb, float cr, float* rgb) {
  cb -= 128.0f;
  cr -= 128.0f;
  rgb[0] = Clamp255(y + kCrToR * cr);
  rgb[1] = Clamp255((y - kCbToG * cb) - kCrToG * cr);
  rgb[2] = Clamp255(y + kCbToB * cb);
}

// The scalar strip: what the vector one computes, in the same order.
void YccStripScalar(const float* const* rows, const int* widths, int n, const ResampleTap* const* taps,
                    const float* const* weights, int out_w, bool flip, float* dst) {
  for (int r = 0; r < n; ++r) {
    for (int o = 0; o < out_w; ++o) {
      float v[3];
      for (int p = 0; p < 3; ++p) {
        const ResampleTap t = taps[p][o];
        const float* w = weights[p] + t.offset;
        const float* row = rows[p] + static_cast<size_t>(r) * widths[p];
        float acc = w[0] * row[t.first];
        for (int j = 1; j < t.count; ++j) acc = acc + w[j] * row[t.first + j];
        v[p] = acc;
      }
      const int col = flip ? out_w - 1 - o : o;
      YccToRgbScalar(v[0], v[1], v[2], dst + (static_cast<size_t>(r) * out_w + col) * 3);
    }
  }
}

void YccStripImpl(const float* const* rows, const int* widths, int n, const ResampleTap* const* taps,
                  const float* const* weights, int out_w, bool flip, float* HWY_RESTRICT scratch,
                  float* HWY_RESTRICT dst) {
#if HWY_TARGET != HWY_SCALAR
  if constexpr (kBlocks8) {
    const D8 d;
    // Each plane's strip transposed: column x of the strip is 8 floats at
    // 8 * x (lane r: row r; rows n..7 repeat row n - 1), so the horizontal
    // pass sums whole vectors, one lane per row; then each plane's output
    // columns, 8 floats each, in output order (mirrored when flipping).
    float* cols[3];
    float* outs[3];
    float* at = scratch;
    for (int p = 0; p < 3; ++p) {
      cols[p] = at;
      at += 8 * static_cast<size_t>(widths[p]);
    }
    for (int p = 0; p < 3; ++p) {
      outs[p] = at;
      at += 8 * static_cast<size_t>(out_w);
    }
    for (int p = 0; p < 3; ++p) {
      const size_t width = static_cast<size_t>(widths[p]);
      const float* src[8];
      for (int r = 0; r < 8; ++r) src[r] = rows[p] + width * static_cast<size_t>(std::min(r, n - 1));
      size_t x = 0;
      for (; x + 8 <= width; x += 8) {
        hn::Vec<D8> v[8];
        for (int r = 0; r < 8; ++r) v[r] = hn::LoadU(d, src[r] + x);
        Transpose8x8(v);
        for (int i = 0; i < 8; ++i) hn::StoreU(v[i], d, cols[p] + 8 * (x + i));
      }
      for (; x < width; ++x) {
        for (int r = 0; r < 8; ++r) cols[p][8 * x + r] = src[r][x];
      }
      // Four outputs at a time: their sums are independent, so the adds of
      // one hide the latency of the others' (each still in tap order).
      const ResampleTap* tp = taps[p];
      const float* wp = weights[p];
      auto column = [&](int o) { return outs[p] + 8 * static_cast<size_t>(flip ? out_w - 1 - o : o); };
      int o = 0;
      for (; o + 4 <= out_w; o += 4) {
        hn::Vec<D8> acc[4];
        const float* w[4];
        const float* c[4];
        int common = tp[o].count;
        for (int k = 0; k < 4; ++k) {
          const ResampleTap t = tp[o + k];
          w[k] = wp + t.offset;
          c[k] = cols[p] + 8 * static_cast<size_t>(t.first);
          acc[k] = hn::Mul(hn::Set(d, w[k][0]), hn::LoadU(d, c[k]));
          common = std::min(common, t.count);
        }
        for (int j = 1; j < common; ++j) {
          for (int k = 0; k < 4; ++k) {
            acc[k] = hn::Add(acc[k], hn::Mul(hn::Set(d, w[k][j]), hn::LoadU(d, c[k] + 8 * j)));
          }
        }
        for (int k = 0; k < 4; ++k) {
          for (int j = common; j < tp[o + k].count; ++j) {
            acc[k] = hn::Add(acc[k], hn::Mul(hn::Set(d, w[k][j]), hn::LoadU(d, c[k] + 8 * j)));
          }
          hn::StoreU(acc[k], d, column(o + k));
        }
      }
      for (; o < out_w; ++o) {
        const ResampleTap t = tp[o];
        const float* w = wp + t.offset;
        const float* c = cols[p] + 8 * static_cast<size_t>(t.first);
        auto acc = hn::Mul(hn::Set(d, w[0]), hn::LoadU(d, c));
        for (int j = 1; j < t.count; ++j) acc = hn::Add(acc, hn::Mul(hn::Set(d, w[j]), hn::LoadU(d, c + 8 * j)));
        hn::StoreU(acc, d, column(o));
      }
    }
    // Colour conversion on 8 output columns at once, then back to rows.
    const auto half = hn::Set(d, 128.0f), zero = hn::Zero(d), top = hn::Set(d, 255.0f);
    const auto cr_r = hn::Set(d, kCrToR), cb_g = hn::Set(d, kCbToG), cr_g = hn::Set(d, kCrToG);
    const auto cb_b = hn::Set(d, kCbToB);
    int x0 = 0;
    for (; x0 + 8 <= out_w; x0 += 8) {
      hn::Vec<D8> r[8], g[8], b[8];
      for (int i = 0; i < 8; ++i) {
        const size_t c = 8 * static_cast<size_t>(x0 + i);
        const auto yv = hn::LoadU(d, outs[0] + c);
        const auto cb = hn::Sub(hn::LoadU(d, outs[1] + c), half);
        const auto cr = hn::Sub(hn::LoadU(d, outs[2] + c), half);
        r[i] = hn::Min(hn::Max(hn::Add(yv, hn::Mul(cr_r, cr)), zero), top);
        g[i] = hn::Min(hn::Max(hn::Sub(hn::Sub(yv, hn::Mul(cb_g, cb)), hn::Mul(cr_g, cr)), zero), top);
        b[i] = hn::Min(hn::Max(hn::Add(yv, hn::Mul(cb_b, cb)), zero), top);
      }
      Transpose8x8(r);
      Transpose8x8(g);
      Transpose8x8(b);
      for (int i = 0; i < n; ++i) {
        hn::StoreInterleaved3(r[i], g[i], b[i], d, dst + (static_cast<size_t>(i) * out_w + x0) * 3);
      }
    }
    for (; x0 < out_w; ++x0) {
      const size_t c = 8 * static_cast<size_t>(x0);
      for (int i = 0; i < n; ++i) {
        YccToRgbScalar(outs[0][c + i], outs[1][c + i], outs[2][c + i], dst + (static_cast<size_t>(i) * out_w + x0) * 3);
      }
    }
    return;
  }
#endif
  (void)scratch;
  YccStripScalar(rows, widths, n, taps, weights, out_w, flip, dst);
}

// ---- Batch-slot write: one store step per slot element type.

template <SlotType kType>
struct SlotStore;

template <>
struct SlotStore<SlotType::kFloat32> {
  using T = float;
  template <class DF>
  static HWY_INLINE hn::Vec<DF> Convert(DF, hn::Vec<DF> v) {
    return v;
  }
  static float Scalar(float v) { return v; }
};

// std::lround(std::clamp(v, 0, 255)), exactly: after the clamp v >= 0, so
// rounding half away from zero is floor(v) + (v - floor(v) >= 0.5), and
// v - floor(v) is exact. (floor(v + 0.5) is not: 0.49999997 + 0.5 rounds to 1.)
template <>
struct SlotStore<SlotType::kUint8> {
  using T = uint8_t;
  template <class DF>
  static HWY_INLINE hn::Vec<hn::Rebind<uint8_t, DF>> Convert(DF df, hn::Vec<DF> v) {
    v = hn::Min(hn::Max(v, hn::Zero(df)), hn::Set(df, 255.0f));
    const auto t = hn::Floor(v);
    const auto r = hn::IfThenElse(v - t >= hn::Set(df, 0.5f), t + hn::Set(df, 1.0f), t);
    const hn::Rebind<int32_t, DF> di;
    const hn::Rebind<uint8_t, DF> du8;
    return hn::DemoteTo(du8, hn::ConvertTo(di, r));
  }
  static uint8_t Scalar(float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f))); }
};

// Output channel values of one pixel, as the reference computes them.
template <int kSrc, int kOut>
HWY_INLINE void PixelChannels(const float* p, float* v) {
  if constexpr (kSrc == kOut) {
    for (int c = 0; c < kOut; ++c) v[c] = p[c];
  } else if constexpr (kSrc == 1) {
    for (int c = 0; c < kOut; ++c) v[c] = p[0];
  } else {
    v[0] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
  }
}

// Float32 slots are written with non-temporal stores, which do not read
// each cache line before writing it: a batch (38.5 MB of 64 samples at
// 224x224) is far larger than the caches and is sent long after, so every
// ordinary store missed and first read its line from memory.
// kernels_bench BM_WriteIntoBatch measures it. Only whole vectors stream
// (Highway's Stream of a partial vector writes 16 bytes), so uint8 slots
// keep ordinary stores. Returns the first element index from which `dst`
// is vector-aligned (dst + head), or `n` if it never is.
template <class D, typename T>
size_t StreamHead(D d, const T* dst, size_t n) {
  const size_t bytes = hn::Lanes(d) * sizeof(T);
  const size_t mis = reinterpret_cast<uintptr_t>(dst) % bytes;
  if (mis == 0) return 0;
  if (mis % sizeof(T) != 0) return n;
  return std::min(n, (bytes - mis) / sizeof(T));
}

template <class D, typename T>
HWY_INLINE void StoreSlot(hn::Vec<D> v, D d, T* HWY_RESTRICT p, bool stream) {
  if (stream) {
    hn::Stream(v, d, p);
  } else {
    hn::StoreU(v, d, p);
  }
}

template <int kSrc, int kOut, SlotType kType>
void WriteSlotT(const float* HWY_RESTRICT src, size_t pixels, const SlotWrite& how, void* dst_void) {
  using Store = SlotStore<kType>;
  using T = typename Store::T;
  T* HWY_RESTRICT dst = static_cast<T*>(dst_void);
  const hn::ScalableTag<float> df;
  const hn::Rebind<T, decltype(df)> dt;
  const size_t N = hn::Lanes(df);
  hn::Vec<decltype(df)> scale[kOut], offset[kOut];
  for (int c = 0; c < kOut; ++c) {
    scale[c] = hn::Set(df, how.scale[c]);
    offset[c] = hn::Set(df, how.offset[c]);
  }
  auto scalar = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      float v[3];
      PixelChannels<kSrc, kOut>(src + i * kSrc, v);
      for (int c = 0; c < kOut; ++c) {
        const T q = Store::Scalar(how.scale[c] * v[c] + how.offset[c]);
        dst[how.planar ? c * pixels + i : i * kOut + c] = q;
      }
    }
  };
  // Planes stream when they share one alignment (whole vectors apart).
  size_t head = 0;
  bool stream = false;
  if constexpr (kType == SlotType::kFloat32) {
    if (how.planar && (kOut == 1 || pixels % N == 0)) {
      head = StreamHead(df, dst, pixels);
      stream = head < pixels;
    }
  }
  if (!stream) head = 0;
  scalar(0, head);
  size_t i = head;
  for (; i + N <= pixels; i += N) {
    const float* p = src + i * kSrc;
    hn::Vec<decltype(df)> v[3];
    if constexpr (kSrc == 3) {
      hn::LoadInterleaved3(df, p, v[0], v[1], v[2]);
      if constexpr (kOut == 1) {
        v[0] = hn::Add(hn::Add(hn::Mul(hn::Set(df, 0.299f), v[0]), hn::Mul(hn::Set(df, 0.587f), v[1])),
                       hn::Mul(hn::Set(df, 0.114f), v[2]));
      }
    } else {
      v[0] = hn::LoadU(df, p);
      v[1] = v[2] = v[0];
    }
    hn::Vec<decltype(dt)> q[kOut];
    for (int c = 0; c < kOut; ++c) q[c] = Store::Convert(df, hn::Add(hn::Mul(scale[c], v[c]), offset[c]));
    if (how.planar) {
      for (int c = 0; c < kOut; ++c) StoreSlot(q[c], dt, dst + c * pixels + i, stream);
    } else if constexpr (kOut == 3) {
      hn::StoreInterleaved3(q[0], q[1], q[2], dt, dst + 3 * i);
    } else {
      hn::StoreU(q[0], dt, dst + i);
    }
  }
  scalar(i, pixels);
  if (stream) hwy::FlushStream();
}

// Interleaved output of the source's channels with one scale and offset
// for all of them (uint8, kNone, kRescale, the per-image modes): an
// element-wise map of the whole buffer, no (de)interleaving.
template <SlotType kType>
void WriteFlat(const float* HWY_RESTRICT src, size_t n, float scale, float offset, void* dst_void) {
  using Store = SlotStore<kType>;
  using T = typename Store::T;
  T* HWY_RESTRICT dst = static_cast<T*>(dst_void);
  const hn::ScalableTag<float> df;
  const hn::Rebind<T, decltype(df)> dt;
  const size_t N = hn::Lanes(df);
  const auto vs = hn::Set(df, scale), vo = hn::Set(df, offset);
  const size_t head = kType == SlotType::kFloat32 ? StreamHead(df, dst, n) : n;
  const bool stream = head < n;
  size_t i = stream ? head : 0;
  for (size_t k = 0; k < i; ++k) dst[k] = Store::Scalar(scale * src[k] + offset);
  for (; i + N <= n; i += N) {
    StoreSlot(Store::Convert(df, hn::Add(hn::Mul(vs, hn::LoadU(df, src + i)), vo)), dt, dst + i, stream);
  }
  for (; i < n; ++i) dst[i] = Store::Scalar(scale * src[i] + offset);
  if (stream) hwy::FlushStream();
}

template <SlotType kType>
void WriteSlotOfType(const float* src, size_t pixels, const SlotWrite& how, void* dst) {
  const bool uniform = how.scale[0] == how.scale[1] && how.scale[0] == how.scale[2] &&
                       how.offset[0] == how.offset[1] && how.offset[0] == how.offset[2];
  if (uniform && how.src_channels == how.out_channels && (!how.planar || how.out_channels == 1)) {
    return WriteFlat<kType>(src, pixels * how.out_channels, how.scale[0], how.offset[0], dst);
  }
  if (how.src_channels == 3) {
    if (how.out_channels == 3) return WriteSlotT<3, 3, kType>(src, pixels, how, dst);
    return WriteSlotT<3, 1, kType>(src, pixels, how, dst);
  }
  if (how.out_channels == 3) return WriteSlotT<1, 3, kType>(src, pixels, how, dst);
  return WriteSlotT<1, 1, kType>(src, pixels, how, dst);
}

void WriteSlotImpl(const float* src, size_t pixels, const SlotWrite& how, void* dst) {
  switch (how.type) {
    case SlotType::kFloat32:
      return WriteSlotOfType<SlotType::kFloat32>(src, pixels, how, dst);
    case SlotType::kUint8:
      return WriteSlotOfType<SlotType::kUint8>(src, pixels, how, dst);
  }
}

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace simd
}  // namespace imagefeed
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace imagefeed {
namespace simd {

HWY_EXPORT(ConvertU8);
HWY_EXPORT(ConvertU16);
HWY_EXPORT(RowSumF32);
HWY_EXPORT(RowSumU8);
HWY_EXPORT(RowSumU16);
HWY_EXPORT(Horizontal3U8);
HWY_EXPORT(Horizontal3U16);
HWY_EXPORT(Horizontal3F32);
HWY_EXPORT(WriteSlotImpl);
HWY_EXPORT(YccStripImpl);
HWY_EXPORT(TargetNameImpl);

void ConvertToFloat(const uint8_t* src, size_t n, float* dst) { HWY_DYNAMIC_DISPATCH(ConvertU8)(src, n, dst); }
void ConvertToFloat(const uint16_t* src, size_t n, float* dst) { HWY_DYNAMIC_DISPATCH(ConvertU16)(src, n, dst); }

void WeightedRowSum(const float* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(RowSumF32)(src, stride, first, taps, w, n, dst);
}
void WeightedRowSum(const uint8_t* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(RowSumU8)(src, stride, first, taps, w, n, dst);
}
void WeightedRowSum(const uint16_t* src, size_t stride, int first, int taps, const float* w, size_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(RowSumU16)(src, stride, first, taps, w, n, dst);
}

void HorizontalPass3(const uint8_t* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                     const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst) {
  HWY_DYNAMIC_DISPATCH(Horizontal3U8)(src, src_stride, rows, in_w, taps, weights, out_w, inv, flip, scratch, dst);
}
void HorizontalPass3(const uint16_t* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                     const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst) {
  HWY_DYNAMIC_DISPATCH(Horizontal3U16)(src, src_stride, rows, in_w, taps, weights, out_w, inv, flip, scratch, dst);
}
void HorizontalPass3(const float* src, size_t src_stride, int rows, int in_w, const ResampleTap* taps,
                     const float* weights, int out_w, float inv, bool flip, float* scratch, float* dst) {
  HWY_DYNAMIC_DISPATCH(Horizontal3F32)(src, src_stride, rows, in_w, taps, weights, out_w, inv, flip, scratch, dst);
}

void WriteSlot(const float* src, size_t pixels, const SlotWrite& how, void* dst) {
  HWY_DYNAMIC_DISPATCH(WriteSlotImpl)(src, pixels, how, dst);
}

void YccStripToRgb(const float* const* rows, const int* widths, int n, const ResampleTap* const* taps,
                   const float* const* weights, int out_w, bool flip, float* scratch, float* dst) {
  HWY_DYNAMIC_DISPATCH(YccStripImpl)(rows, widths, n, taps, weights, out_w, flip, scratch, dst);
}

const char* DispatchedTargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace simd
}  // namespace imagefeed
#endif  // HWY_ONCE
