#ifndef IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_
#define IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/random.h"

namespace imagefeed {

enum class SplitSubset { kAll, kTraining, kValidation };

struct OrderSpec {
  int64_t num_samples = 0;
  bool shuffle = false;
  uint64_t seed = 0;
  uint64_t epoch = 0;
  uint32_t rank = 0;
  uint32_t world_size = 1;
  uint64_t start = 0;
  // Keras-style validation split (0 = none; then subset must be kAll).
  double validation_split = 0.0;
  SplitSubset subset = SplitSubset::kAll;
  uint64_t split_seed = 0;
};

// The sample ids of one side of a validation split, ascending: the last
// floor(validation_split * N) ids of a permutation drawn from split_seed are
// the validation subset, the others the training subset (disjoint, complete,
// the same on every server and restart). INVALID_ARGUMENT unless
// 0 < validation_split < 1 with a training/validation subset, or
// validation_split == 0 with kAll.
absl::StatusOr<std::vector<int64_t>> SplitIds(int64_t num_samples, double validation_split, SplitSubset subset,
                                              uint64_t split_seed);

// The epoch's global order: with shuffle, a Fisher-Yates permutation of
// [0, num_samples) drawn from (seed, epoch); otherwise ascending ids.
std::vector<int64_t> EpochOrder(int64_t num_samples, bool shuffle, uint64_t seed, uint64_t epoch);

// The sample ids rank `rank` of `world_size` delivers, after skipping the
// first `start` of them: positions rank, rank + W, rank + 2W, ... of the
// epoch order (of the split's subset, if any). The ranks' sequences are disjoint, their union is every
// sample exactly once, and their lengths differ by at most one.
// INVALID_ARGUMENT if world_size is 0 or rank >= world_size.
// A start past the end gives an empty sequence.
absl::StatusOr<std::vector<int64_t>> RankSequence(const OrderSpec& spec);

// Number of samples rank `rank` of `world_size` gets out of `num_samples`.
int64_t RankSize(int64_t num_samples, uint32_t rank, uint32_t world_size);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_
