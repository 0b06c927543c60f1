#include "server/stats/channel_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace imagefeed {
namespace {

using u128 = unsigned __int128;

// Exact integer sums of one image: per channel, the sum and the sum of
// squares of the sample values (luma scaled by 1000 to stay integral:
// ITU-R 601 luma = (299 R + 587 G + 114 B) / 1000). Exact sums give exact
// means and a variance of exactly 0 for constant images.
struct IntSums {
  std::array<uint64_t, 3> sum{};
  std::array<u128, 3> sum_sq{};
  std::array<uint64_t, 3> min{};
  std::array<uint64_t, 3> max{};
};

template <typename T>
IntSums SumImage(const Image& image, ColorMode mode, int channels) {
  IntSums s;
  s.min.fill(UINT64_MAX);
  const int sc = image.channels;
  auto add = [&s](int c, uint64_t v) {
    s.sum[c] += v;
    s.sum_sq[c] += static_cast<u128>(v) * v;
    s.min[c] = std::min(s.min[c], v);
    s.max[c] = std::max(s.max[c], v);
  };
  for (int y = 0; y < image.height; ++y) {
    const T* p = reinterpret_cast<const T*>(image.row(y));
    for (int x = 0; x < image.width; ++x, p += sc) {
      if (mode == ColorMode::kGrayscale) {
        add(0, sc >= 3 ? 299u * p[0] + 587u * p[1] + 114u * p[2] : 1000u * p[0]);
      } else if (sc >= 3) {
        add(0, p[0]);
        add(1, p[1]);
        add(2, p[2]);
      } else {
        add(0, p[0]);
      }
    }
  }
  if (mode == ColorMode::kRgb && sc < 3) {  // gray replicated into R, G and B
    for (int c = 1; c < channels; ++c) {
      s.sum[c] = s.sum[0];
      s.sum_sq[c] = s.sum_sq[0];
      s.min[c] = s.min[0];
      s.max[c] = s.max[0];
    }
  }
  return s;
}

}  // namespace

ChannelStats::ChannelStats(int channels) : channels_(channels) {}

double ChannelStats::stddev(int c) const { return std::sqrt(variance(c)); }

void ChannelStats::AddImage(const Image& image, ColorMode mode) {
  const int64_t n = static_cast<int64_t>(image.width) * image.height;
  if (n == 0) return;
  const IntSums sums = image.bit_depth == 16 ? SumImage<uint16_t>(image, mode, channels_)
                                             : SumImage<uint8_t>(image, mode, channels_);
  // Value scale: v01 = v / den.
  const double den = (image.bit_depth == 16 ? 65535.0 : 255.0) * (mode == ColorMode::kGrayscale ? 1000.0 : 1.0);
  ChannelStats one(channels_);
  one.count_ = n;
  for (int c = 0; c < channels_; ++c) {
    one.mean_[c] = static_cast<double>(sums.sum[c]) / (static_cast<double>(n) * den);
    // n * sum_sq - sum^2 >= 0 exactly; 0 for constant images.
    const u128 scaled = static_cast<u128>(n) * sums.sum_sq[c] - static_cast<u128>(sums.sum[c]) * sums.sum[c];
    one.m2_[c] = static_cast<double>(static_cast<long double>(scaled) / (static_cast<long double>(n) * den * den));
    one.min_[c] = static_cast<double>(sums.min[c]) / den;
    one.max_[c] = static_cast<double>(sums.max[c]) / den;
  }
  Merge(one);
}

void ChannelStats::Merge(const ChannelStats& other) {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    return;
  }
  const double na = static_cast<double>(count_), nb = static_cast<double>(other.count_);
  const double n = na + nb;
  for (int c = 0; c < channels_; ++c) {
    const double delta = other.mean_[c] - mean_[c];
    mean_[c] += delta * nb / n;
    m2_[c] += other.m2_[c] + delta * delta * na * nb / n;
    min_[c] = std::min(min_[c], other.min_[c]);
    max_[c] = std::max(max_[c], other.max_[c]);
  }
  count_ += other.count_;
}

}  // namespace imagefeed
