#ifndef IMAGEFEED_COMMON_RANDOM_H_
#define IMAGEFEED_COMMON_RANDOM_H_

#include <cstdint>
#include <initializer_list>

namespace imagefeed {

// A small, fully specified PRNG (SplitMix64) so that orders, splits and
// augmentations are the same on every platform and standard library
// (std::*_distribution are implementation-defined). Thread-compatible.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), bound > 0, without modulo bias (Lemire, "Fast
  // Random Integer Generation in an Interval", 2019).
  uint64_t Below(uint64_t bound) {
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
  // Uniform double in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// Mixes several 64-bit values into one seed (order matters).
inline uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) {
  uint64_t h = SplitMix64(a).Next();
  for (uint64_t v : {b, c, d}) h = SplitMix64(h ^ (v + 0x632BE59BD9B4E019ull)).Next();
  return h;
}

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_RANDOM_H_
