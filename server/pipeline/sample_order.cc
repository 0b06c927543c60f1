#include "server/pipeline/sample_order.h"

#include <numeric>

#include "absl/strings/str_cat.h"

namespace imagefeed {

uint64_t SplitMix64::Below(uint64_t bound) {
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  unsigned __int128 m = static_cast<unsigned __int128>(Next()) * bound;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < bound) {
    const uint64_t threshold = -bound % bound;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(Next()) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  SplitMix64 g(a);
  uint64_t h = g.Next();
  for (uint64_t v : {b, c, d}) {
    SplitMix64 step(h ^ (v + 0x632BE59BD9B4E019ull));
    h = step.Next();
  }
  return h;
}

std::vector<int64_t> EpochOrder(int64_t num_samples, bool shuffle, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(num_samples));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle && num_samples > 1) {
    SplitMix64 rng(MixSeed(seed, epoch, 0x5eed0fde));
    for (int64_t i = num_samples - 1; i > 0; --i) {
      int64_t j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
      std::swap(order[i], order[j]);
    }
  }
  return order;
}

int64_t RankSize(int64_t num_samples, uint32_t rank, uint32_t world_size) {
  if (world_size == 0 || rank >= world_size || num_samples <= rank) return 0;
  return (num_samples - rank + world_size - 1) / world_size;
}

absl::StatusOr<std::vector<int64_t>> RankSequence(const OrderSpec& spec) {
  if (spec.world_size == 0) return absl::InvalidArgumentError("world_size must be >= 1");
  if (spec.rank >= spec.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", spec.rank, " must be < world_size ", spec.world_size));
  }
  std::vector<int64_t> order = EpochOrder(spec.num_samples, spec.shuffle, spec.seed, spec.epoch);
  std::vector<int64_t> out;
  const uint64_t size = static_cast<uint64_t>(RankSize(spec.num_samples, spec.rank, spec.world_size));
  if (spec.start >= size) return out;
  out.reserve(size - spec.start);
  for (uint64_t k = spec.start; k < size; ++k) out.push_back(order[spec.rank + k * spec.world_size]);
  return out;
}

}  // namespace imagefeed
