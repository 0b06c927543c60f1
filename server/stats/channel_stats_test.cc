#include "server/stats/channel_stats.h"

#include <cmath>
#include <vector>

#include "common/random.h"
#include "common/test_support.h"

namespace imagefeed {
namespace {

Image RandomImage(SplitMix64& rng, int w, int h, int channels, int depth) {
  Image img;
  img.Reset(w, h, channels, depth);
  if (depth == 16) {
    for (int y = 0; y < h; ++y) {
      for (int k = 0; k < w * channels; ++k) img.row16(y)[k] = static_cast<uint16_t>(rng.Below(65536));
    }
  } else {
    for (auto& b : img.data) b = static_cast<uint8_t>(rng.Below(256));
  }
  return img;
}

// Independent reference: collect every value, then textbook float64 formulas.
struct Reference {
  std::vector<std::vector<double>> values;
  explicit Reference(int channels) : values(channels) {}
  void Add(const Image& img, ColorMode mode) {
    const double inv = img.bit_depth == 16 ? 1.0 / 65535.0 : 1.0 / 255.0;
    for (int y = 0; y < img.height; ++y) {
      for (int x = 0; x < img.width; ++x) {
        std::vector<double> px;
        for (int c = 0; c < img.channels; ++c) {
          size_t i = static_cast<size_t>(x) * img.channels + c;
          px.push_back((img.bit_depth == 16 ? img.row16(y)[i] : img.row(y)[i]) * inv);
        }
        if (mode == ColorMode::kGrayscale) {
          values[0].push_back(px.size() >= 3 ? 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2] : px[0]);
        } else {
          for (int c = 0; c < 3; ++c) values[c].push_back(px.size() >= 3 ? px[c] : px[0]);
        }
      }
    }
  }
  double Mean(int c) const {
    long double s = 0;
    for (double v : values[c]) s += v;
    return static_cast<double>(s / values[c].size());
  }
  double Std(int c) const {
    const double m = Mean(c);
    long double s = 0;
    for (double v : values[c]) s += (v - m) * (v - m);
    return std::sqrt(static_cast<double>(s / values[c].size()));
  }
};

void ExpectRel(double got, double want) { EXPECT_NEAR(got, want, std::max(1e-12, std::fabs(want) * 1e-6)); }

TEST(ChannelStatsTest, MatchesAFloat64ReferenceOverMixedImages) {
  for (ColorMode mode : {ColorMode::kRgb, ColorMode::kGrayscale}) {
    SplitMix64 rng(17);
    ChannelStats stats(ChannelsOf(mode));
    Reference ref(ChannelsOf(mode));
    std::vector<Image> images = {RandomImage(rng, 31, 17, 3, 8), RandomImage(rng, 8, 40, 1, 8),
                                 RandomImage(rng, 20, 20, 3, 16), RandomImage(rng, 1, 1, 1, 16),
                                 RandomImage(rng, 64, 3, 3, 8)};
    for (const Image& img : images) {
      stats.AddImage(img, mode);
      ref.Add(img, mode);
    }
    ASSERT_EQ(stats.count(), static_cast<int64_t>(ref.values[0].size()));
    for (int c = 0; c < ChannelsOf(mode); ++c) {
      ExpectRel(stats.mean(c), ref.Mean(c));
      ExpectRel(stats.stddev(c), ref.Std(c));
      EXPECT_EQ(stats.min(c), *std::min_element(ref.values[c].begin(), ref.values[c].end()));
      EXPECT_EQ(stats.max(c), *std::max_element(ref.values[c].begin(), ref.values[c].end()));
    }
  }
}

TEST(ChannelStatsTest, MergingPartsEqualsOnePass) {
  SplitMix64 rng(3);
  std::vector<Image> images;
  for (int i = 0; i < 12; ++i) images.push_back(RandomImage(rng, 5 + i, 7, 3, 8));
  ChannelStats whole(3), left(3), right(3);
  for (size_t i = 0; i < images.size(); ++i) {
    whole.AddImage(images[i], ColorMode::kRgb);
    (i < 5 ? left : right).AddImage(images[i], ColorMode::kRgb);
  }
  left.Merge(right);
  EXPECT_EQ(left.count(), whole.count());
  for (int c = 0; c < 3; ++c) {
    ExpectRel(left.mean(c), whole.mean(c));
    ExpectRel(left.variance(c), whole.variance(c));
  }
}

TEST(ChannelStatsTest, ConstantImagesAndEmptyStats) {
  Image img;
  img.Reset(4, 4, 1, 8);
  std::fill(img.data.begin(), img.data.end(), 51);
  ChannelStats stats(3);
  EXPECT_EQ(stats.stddev(0), 0.0);
  EXPECT_EQ(stats.mean(0), 0.0);
  stats.AddImage(img, ColorMode::kRgb);
  for (int c = 0; c < 3; ++c) {
    EXPECT_DOUBLE_EQ(stats.mean(c), 0.2);
    EXPECT_EQ(stats.stddev(c), 0.0);
  }
}

}  // namespace
}  // namespace imagefeed
