#ifndef IMAGEFEED_SERVER_STATS_CHANNEL_STATS_H_
#define IMAGEFEED_SERVER_STATS_CHANNEL_STATS_H_

#include <array>
#include <cstdint>

#include "common/image.h"

namespace imagefeed {

enum class ColorMode { kRgb, kGrayscale };

// Channels of the output for a colour mode: 3 (rgb) or 1 (grayscale).
inline int ChannelsOf(ColorMode mode) { return mode == ColorMode::kGrayscale ? 1 : 3; }

// Per-channel count, mean, M2 (sum of squared deviations), min and max, in
// float64, mergeable with Chan et al.'s parallel update, so partial results
// fitted on different threads combine exactly as one sequential pass would
// (up to rounding). Thread-compatible.
class ChannelStats {
 public:
  explicit ChannelStats(int channels = 3);

  // Adds every pixel of `image` at native resolution, in [0, 1] (8-bit
  // v/255, 16-bit v/65535), in `mode` (rgb: gray replicated; grayscale:
  // ITU-R 601 luma of RGB). Two passes per image (mean, then deviations), so
  // large images lose no precision.
  void AddImage(const Image& image, ColorMode mode);

  // Merges `other` (same channel count) into this.
  void Merge(const ChannelStats& other);

  int channels() const { return channels_; }
  // Pixels per channel.
  int64_t count() const { return count_; }
  double mean(int c) const { return mean_[c]; }
  // Population variance / standard deviation (0 when empty).
  double variance(int c) const { return count_ > 0 ? m2_[c] / static_cast<double>(count_) : 0.0; }
  double stddev(int c) const;
  double min(int c) const { return count_ > 0 ? min_[c] : 0.0; }
  double max(int c) const { return count_ > 0 ? max_[c] : 0.0; }

 private:
  int channels_;
  int64_t count_ = 0;
  std::array<double, 3> mean_{};
  std::array<double, 3> m2_{};
  std::array<double, 3> min_{};
  std::array<double, 3> max_{};
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_STATS_CHANNEL_STATS_H_
