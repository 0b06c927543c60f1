#ifndef IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_
#define IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace imagefeed {

struct OrderSpec {
  int64_t num_samples = 0;
  bool shuffle = false;
  uint64_t seed = 0;
  uint64_t epoch = 0;
  uint32_t rank = 0;
  uint32_t world_size = 1;
  uint64_t start = 0;
};

// A small, fully specified PRNG (SplitMix64) so that orders and augmentations
// are the same on every platform and standard library (std::*_distribution
// are implementation-defined). Thread-compatible.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), bound > 0, without modulo bias (Lemire's method).
  uint64_t Below(uint64_t bound);
  // Uniform double in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// Mixes several 64-bit values into one seed (order matters).
uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0);

// The epoch's global order: with shuffle, a Fisher-Yates permutation of
// [0, num_samples) drawn from (seed, epoch); otherwise ascending ids.
std::vector<int64_t> EpochOrder(int64_t num_samples, bool shuffle, uint64_t seed, uint64_t epoch);

// The sample ids rank `rank` of `world_size` delivers, after skipping the
// first `start` of them: positions rank, rank + W, rank + 2W, ... of the
// epoch order. The ranks' sequences are disjoint, their union is every
// sample exactly once, and their lengths differ by at most one.
// INVALID_ARGUMENT if world_size is 0 or rank >= world_size.
// A start past the end gives an empty sequence.
absl::StatusOr<std::vector<int64_t>> RankSequence(const OrderSpec& spec);

// Number of samples rank `rank` of `world_size` gets out of `num_samples`.
int64_t RankSize(int64_t num_samples, uint32_t rank, uint32_t world_size);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_
