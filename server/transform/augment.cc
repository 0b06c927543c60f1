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
