#include "server/transform/augment.h"

#include <algorithm>
#include <cmath>

#include "common/random.h"

namespace imagefeed {
namespace {

// The centred region of `src` with the aspect ratio of out (w/h).
CropPlan CenterAspect(int src_w, int src_h, int out_w, int out_h) {
  CropPlan c;
  const double src_ratio = static_cast<double>(src_w) / src_h;
  const double out_ratio = static_cast<double>(out_w) / out_h;
  if (src_ratio > out_ratio) {  // wider than needed: crop left and right
    c.height = src_h;
    c.width = std::clamp(static_cast<int>(std::lround(src_h * out_ratio)), 1, src_w);
  } else {
    c.width = src_w;
    c.height = std::clamp(static_cast<int>(std::lround(src_w / out_ratio)), 1, src_h);
  }
  c.x = (src_w - c.width) / 2;
  c.y = (src_h - c.height) / 2;
  return c;
}

// One axis of ResizeThenCenterCrop. Resizing `src` pixels to `resized` and
// keeping [crop_at, crop_at + out) samples the source box [start, start +
// len); the resize reads the window [*lo, *hi) for it. *start is returned
// relative to *lo.
void BoxAxis(int src, int64_t resized, int64_t crop_at, int out, double* start, double* len, int* lo, int* hi) {
  const double scale = static_cast<double>(src) / resized;
  *start = static_cast<double>(crop_at) * scale;
  *len = out * scale;
  // The triangle filter reaches max(scale, 1) pixels each side of a sample's
  // centre; one more pixel keeps float rounding of the centres inside.
  const double reach = std::max(scale, 1.0) + 1.0;
  *lo = std::max(0, static_cast<int>(std::floor(*start - reach)));
  *hi = std::min(src, static_cast<int>(std::ceil(*start + *len + reach)));
  *start -= *lo;
}

// torchvision Resize(size) (shorter side to `size`, longer to
// int(size * long / short)) and then CenterCrop(out_h, out_w) (offsets
// int(round((R - out) / 2.0)), Python's half-to-even round), as a source box.
CropPlan ResizeThenCenterCrop(int w, int h, int64_t size, int out_w, int out_h) {
  const bool width_is_short = w <= h;
  const int64_t short_side = width_is_short ? w : h, long_side = width_is_short ? h : w;
  // 64-bit: a 1 x 99,000,000 PNG is valid, and its resize is that long.
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(size * long_side) / static_cast<double>(short_side));
  const int64_t rw = width_is_short ? size : new_long, rh = width_is_short ? new_long : size;
  const int64_t left = static_cast<int64_t>(std::nearbyint(static_cast<double>(rw - out_w) / 2.0));
  const int64_t top = static_cast<int64_t>(std::nearbyint(static_cast<double>(rh - out_h) / 2.0));
  CropPlan c;
  if (rw == w && rh == h) {  // torchvision returns the image unchanged: a plain crop
    c.x = static_cast<int>(std::clamp<int64_t>(left, 0, w - std::min(out_w, w)));
    c.y = static_cast<int>(std::clamp<int64_t>(top, 0, h - std::min(out_h, h)));
    c.width = std::min(out_w, w);
    c.height = std::min(out_h, h);
    return c;
  }
  int x1 = 0, y1 = 0;
  BoxAxis(w, rw, left, out_w, &c.box.x, &c.box.width, &c.x, &x1);
  BoxAxis(h, rh, top, out_h, &c.box.y, &c.box.height, &c.y, &y1);
  c.width = x1 - c.x;
  c.height = y1 - c.y;
  return c;
}

CropPlan RandomResizedCrop(int w, int h, const AugmentOptions& o, SplitMix64* rng) {
  const double area = static_cast<double>(w) * h;
  const double log_lo = std::log(o.ratio_min), log_hi = std::log(o.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (o.scale_min + (o.scale_max - o.scale_min) * rng->Uniform());
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * rng->Uniform());
    const int cw = static_cast<int>(std::lround(std::sqrt(target_area * aspect)));
    const int ch = static_cast<int>(std::lround(std::sqrt(target_area / aspect)));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      CropPlan c;
      c.width = cw;
      c.height = ch;
      c.y = static_cast<int>(rng->Below(static_cast<uint64_t>(h - ch) + 1));
      c.x = static_cast<int>(rng->Below(static_cast<uint64_t>(w - cw) + 1));
      return c;
    }
  }
  // Fallback: centre crop, aspect ratio clamped into the allowed range.
  const double in_ratio = static_cast<double>(w) / h;
  CropPlan c;
  if (in_ratio < o.ratio_min) {
    c.width = w;
    c.height = std::clamp(static_cast<int>(std::lround(w / o.ratio_min)), 1, h);
  } else if (in_ratio > o.ratio_max) {
    c.height = h;
    c.width = std::clamp(static_cast<int>(std::lround(h * o.ratio_max)), 1, w);
  } else {
    c.width = w;
    c.height = h;
  }
  c.x = (w - c.width) / 2;
  c.y = (h - c.height) / 2;
  return c;
}

}  // namespace

CropPlan PlanCrop(int src_w, int src_h, int out_w, int out_h, const AugmentOptions& o, uint64_t sample_seed) {
  SplitMix64 rng(sample_seed);
  CropPlan c;
  const bool sized = out_w > 0 && out_h > 0;
  if (sized && o.random_resized_crop) {
    c = RandomResizedCrop(src_w, src_h, o, &rng);
  } else if (sized && o.resize_mode == ResizeMode::kShorterSide && o.resize_size > 0) {
    c = ResizeThenCenterCrop(src_w, src_h, o.resize_size, out_w, out_h);
  } else if (sized && o.resize_mode == ResizeMode::kShorterSide) {
    c = CenterAspect(src_w, src_h, out_w, out_h);
  } else {
    c.width = src_w;
    c.height = src_h;
  }
  // Drawn last and always, so adding a flip never changes the crop.
  const bool coin = (rng.Next() >> 63) != 0;
  c.flip = o.random_flip && coin;
  return c;
}

}  // namespace imagefeed
