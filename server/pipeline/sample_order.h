#ifndef IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_
#define IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/random.h"

namespace imagefeed {

enum class SplitSubset { kAll, kTraining, kValidation };

// How ranks are evened out (torch DistributedSampler): kPad wraps the
// epoch order around to its start so every rank gets ceil(n / W) samples,
// kDrop leaves the last n % W out so every rank gets floor(n / W).
enum class EvenShards { kNone, kPad, kDrop };

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
  // The ranks interleave over the epoch order from this position on
  // (positions before it were delivered by an earlier run of ranks, maybe
  // with another world size: elastic resume).
  uint64_t global_start = 0;
  EvenShards even_shards = EvenShards::kNone;
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
// first `start` of them: positions G + rank, G + rank + W, G + rank + 2W, ...
// of the epoch order (of the split's subset, if any), G = global_start.
// The ranks' sequences are disjoint, their union is every sample from G on
// exactly once, and their lengths differ by at most one; with kPad, global
// positions past the end wrap around to the order's start (padded
// repeats), with kDrop the ranks stop at floor((n - G) / W).
// INVALID_ARGUMENT if world_size is 0 or rank >= world_size.
// A start past the end gives an empty sequence.
absl::StatusOr<std::vector<int64_t>> RankSequence(const OrderSpec& spec);

// Length of rank spec.rank's sequence before `start` is skipped, for a
// subset of `subset_size` samples; and the first of its positions that is a
// padded repeat (the length if none).
struct RankExtent {
  uint64_t positions = 0;
  uint64_t first_padded = 0;
};
RankExtent RankExtentOf(const OrderSpec& spec, int64_t subset_size);

// One batch of a stream: entries [begin, begin + count) of the stream's id
// sequence, which are positions [position, position + count) of the rank's
// sequence.
struct BatchSlice {
  size_t begin = 0;
  size_t count = 0;
  uint64_t position = 0;
};

// Cuts `rank_ids` (the rank's sequence from position `first_position` on)
// into batches of `batch_size` (the last one shorter unless `drop_last`
// drops it) and keeps batch numbers fan_in_index, fan_in_index +
// fan_in_count, ...: the ids of the kept batches go to *ids, in order.
// fan_in_count >= 1 and fan_in_index < fan_in_count.
std::vector<BatchSlice> SliceBatches(const std::vector<int64_t>& rank_ids, uint64_t first_position, int batch_size,
                                     bool drop_last, uint32_t fan_in_count, uint32_t fan_in_index,
                                     std::vector<int64_t>* ids);

// Number of samples rank `rank` of `world_size` gets out of `num_samples`.
int64_t RankSize(int64_t num_samples, uint32_t rank, uint32_t world_size);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_SAMPLE_ORDER_H_
