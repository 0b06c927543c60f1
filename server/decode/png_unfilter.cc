// Highway compiles this file once per target (foreach_target.h re-includes
// it); the HWY_ONCE part at the end defines the dispatching entry point.
// Not for AVX-512: a pixel fills a quarter of a 128-bit vector, and there
// compares go through mask registers, 3 cycles each on the dependency
// chain (the AVX2 build of the same code is 8 % faster per PNG here).
#define HWY_DISABLED_TARGETS (HWY_AVX3 | HWY_AVX3_DL)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "server/decode/png_unfilter.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h must come first.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "hwy/highway.h"
#include "server/decode/png_unfilter.h"

// Once, not per target: the scalar filters.
#ifndef IMAGEFEED_SERVER_DECODE_PNG_UNFILTER_SCALAR_
#define IMAGEFEED_SERVER_DECODE_PNG_UNFILTER_SCALAR_
namespace imagefeed {
namespace png_unfilter_internal {

// The filters that predict from the pixel to the left, for a pixel size
// known at compile time: the left pixel (a) and the one above it (c) stay in
// registers, so each channel's dependency chain runs beside the others
// instead of through a store and a reload (2x faster than a loop over
// bytes with a run-time pixel size).
template <int kBpp>
void UnfilterSub(const uint8_t* src, uint8_t* dst, size_t len) {
  uint8_t a[kBpp];
  for (int k = 0; k < kBpp; ++k) a[k] = dst[k] = src[k];
  for (size_t i = kBpp; i < len; i += kBpp) {
    for (int k = 0; k < kBpp; ++k) a[k] = dst[i + k] = static_cast<uint8_t>(src[i + k] + a[k]);
  }
}

template <int kBpp>
void UnfilterAverage(const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len) {
  uint8_t a[kBpp];
  for (int k = 0; k < kBpp; ++k) a[k] = dst[k] = static_cast<uint8_t>(src[k] + (prior[k] >> 1));
  for (size_t i = kBpp; i < len; i += kBpp) {
    for (int k = 0; k < kBpp; ++k) {
      a[k] = dst[i + k] = static_cast<uint8_t>(src[i + k] + ((a[k] + prior[i + k]) >> 1));
    }
  }
}

// Paeth one byte at a time: gray and gray + alpha have few enough values
// to stay in registers; the scalar fallback of PaethT.
template <int kBpp>
void UnfilterPaeth(const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len) {
  int a[kBpp], c[kBpp];
  for (int k = 0; k < kBpp; ++k) {  // Paeth(0, b, 0) = b
    a[k] = dst[k] = static_cast<uint8_t>(src[k] + prior[k]);
    c[k] = prior[k];
  }
  for (size_t i = kBpp; i < len; i += kBpp) {
    for (int k = 0; k < kBpp; ++k) {
      const int b = prior[i + k];
      const int pa = std::abs(b - c[k]), pb = std::abs(a[k] - c[k]), pc = std::abs(a[k] + b - 2 * c[k]);
      int predicted = pb <= pc ? b : c[k];
      if (pa <= pb && pa <= pc) predicted = a[k];
      a[k] = dst[i + k] = static_cast<uint8_t>(src[i + k] + predicted);
      c[k] = b;
    }
  }
}

}  // namespace png_unfilter_internal
}  // namespace imagefeed
#endif  // IMAGEFEED_SERVER_DECODE_PNG_UNFILTER_SCALAR_

HWY_BEFORE_NAMESPACE();
namespace imagefeed {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Paeth for 3 or 4 bytes per pixel, one pixel per step in 16-bit lanes
// (libpng's SSE2 filters do the same): pixels depend on their left
// neighbour, so only the channels of one pixel can run side by side. The
// scalar loop keeps a, b, c and the three distances of every channel live
// and spills them (11.5 ns per RGB pixel here); this loop's chain through a
// is about ten one-cycle operations (4.6 ns per pixel; kernels_bench
// BM_DecodePng/WholeBufferPaeth: 3.9 -> 2.5 ms per 500x375 photo). `dst` may be `src`: each pixel is read before
// it is written, and no store reaches past its pixel.
template <int kBpp>
void PaethT(const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len) {
#if HWY_TARGET == HWY_SCALAR  // one lane per vector
  png_unfilter_internal::UnfilterPaeth<kBpp>(src, prior, dst, len);
#else
  const hn::Full32<uint32_t> d32;  // one pixel as a word
  const hn::Full32<uint8_t> d8;
  const hn::Rebind<int16_t, decltype(d8)> d16;
  const auto load = [&](const uint8_t* p) {
    uint32_t word;
    if constexpr (kBpp == 4) {
      std::memcpy(&word, p, 4);
    } else {  // in registers: a 3-byte memcpy goes through the stack and stalls the 4-byte reload
      word = p[0] | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16;
    }
    return hn::BitCast(d8, hn::Set(d32, word));
  };
  const auto low_byte = hn::Set(d16, 0xFF);
  auto a = hn::Zero(d16), c = hn::Zero(d16);  // Paeth(0, b, 0) = b for the first pixel
  for (size_t i = 0; i < len; i += kBpp) {
    // b, x and pa do not depend on the pixel to the left.
    const auto b = hn::PromoteTo(d16, load(prior + i));
    const auto x = hn::PromoteTo(d16, load(src + i));
    const auto b_minus_c = hn::Sub(b, c);
    const auto pa = hn::Abs(b_minus_c);
    const auto a_minus_c = hn::Sub(a, c);
    const auto pb = hn::Abs(a_minus_c), pc = hn::Abs(hn::Add(b_minus_c, a_minus_c));
    // The spec's order of preference on ties: a, then b, then c.
    const auto b_or_c = hn::IfThenElse(hn::Gt(pb, pc), c, b);
    const auto predicted = hn::IfThenElse(hn::Gt(pa, hn::Min(pb, pc)), b_or_c, a);
    a = hn::And(hn::Add(x, predicted), low_byte);  // modulo 256
    const uint32_t word = hn::GetLane(hn::BitCast(d32, hn::DemoteTo(d8, a)));
    std::memcpy(dst + i, &word, kBpp);
    c = b;
  }
#endif
}

void Paeth3(const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len) { PaethT<3>(src, prior, dst, len); }
void Paeth4(const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len) { PaethT<4>(src, prior, dst, len); }

}  // namespace HWY_NAMESPACE
}  // namespace imagefeed
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace imagefeed {
HWY_EXPORT(Paeth3);
HWY_EXPORT(Paeth4);

namespace {

using png_unfilter_internal::UnfilterAverage;
using png_unfilter_internal::UnfilterPaeth;
using png_unfilter_internal::UnfilterSub;

template <int kBpp>
bool UnfilterRow(int filter, const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len) {
  switch (filter) {
    case 0:
      if (dst != src) std::memcpy(dst, src, len);
      return true;
    case 1:
      UnfilterSub<kBpp>(src, dst, len);
      return true;
    case 2:
      for (size_t i = 0; i < len; ++i) dst[i] = static_cast<uint8_t>(src[i] + prior[i]);
      return true;
    case 3:
      UnfilterAverage<kBpp>(src, prior, dst, len);
      return true;
    case 4:
      if constexpr (kBpp == 3) {
        HWY_DYNAMIC_DISPATCH(Paeth3)(src, prior, dst, len);
      } else if constexpr (kBpp == 4) {
        HWY_DYNAMIC_DISPATCH(Paeth4)(src, prior, dst, len);
      } else {
        UnfilterPaeth<kBpp>(src, prior, dst, len);
      }
      return true;
    default:
      return false;
  }
}

}  // namespace

bool UnfilterPngRow(int filter, const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len, int bpp) {
  switch (bpp) {
    case 1: return UnfilterRow<1>(filter, src, prior, dst, len);
    case 2: return UnfilterRow<2>(filter, src, prior, dst, len);
    case 3: return UnfilterRow<3>(filter, src, prior, dst, len);
    default: return UnfilterRow<4>(filter, src, prior, dst, len);
  }
}

}  // namespace imagefeed
#endif  // HWY_ONCE
