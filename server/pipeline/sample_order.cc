#include "server/pipeline/sample_order.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace imagefeed {

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

absl::StatusOr<std::vector<int64_t>> SplitIds(int64_t num_samples, double validation_split, SplitSubset subset,
                                              uint64_t split_seed) {
  if (validation_split == 0.0 && subset == SplitSubset::kAll) {
    std::vector<int64_t> all(static_cast<size_t>(num_samples));
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  if (!(validation_split > 0.0 && validation_split < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_split must be in (0, 1) when a subset is requested (got ", validation_split, ")"));
  }
  if (subset == SplitSubset::kAll) {
    return absl::InvalidArgumentError("validation_split needs subset=training or subset=validation");
  }
  const int64_t num_val = static_cast<int64_t>(validation_split * static_cast<double>(num_samples));
  std::vector<int64_t> order = EpochOrder(num_samples, true, split_seed, 0x5b117ull);
  std::vector<int64_t> ids = subset == SplitSubset::kValidation
                                 ? std::vector<int64_t>(order.end() - num_val, order.end())
                                 : std::vector<int64_t>(order.begin(), order.end() - num_val);
  std::sort(ids.begin(), ids.end());
  return ids;
}

RankExtent RankExtentOf(const OrderSpec& spec, int64_t subset_size) {
  const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(subset_size, 0));
  const uint64_t rest = n > spec.global_start ? n - spec.global_start : 0;
  const uint64_t w = spec.world_size;
  RankExtent e;
  e.first_padded = static_cast<uint64_t>(RankSize(static_cast<int64_t>(rest), spec.rank, spec.world_size));
  switch (spec.even_shards) {
    case EvenShards::kNone:
      e.positions = e.first_padded;
      break;
    case EvenShards::kPad:
      // Nothing left to pad from an empty order.
      e.positions = n == 0 ? 0 : (rest + w - 1) / w;
      break;
    case EvenShards::kDrop:
      e.positions = rest / w;
      e.first_padded = e.positions;
      break;
  }
  return e;
}

absl::StatusOr<std::vector<int64_t>> RankSequence(const OrderSpec& spec) {
  if (spec.world_size == 0) return absl::InvalidArgumentError("world_size must be >= 1");
  if (spec.rank >= spec.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", spec.rank, " must be < world_size ", spec.world_size));
  }
  absl::StatusOr<std::vector<int64_t>> ids =
      SplitIds(spec.num_samples, spec.validation_split, spec.subset, spec.split_seed);
  if (!ids.ok()) return ids.status();
  const int64_t n = static_cast<int64_t>(ids->size());
  std::vector<int64_t> order = EpochOrder(n, spec.shuffle, spec.seed, spec.epoch);
  std::vector<int64_t> out;
  const uint64_t size = RankExtentOf(spec, n).positions;
  if (spec.start >= size) return out;
  out.reserve(size - spec.start);
  const uint64_t un = static_cast<uint64_t>(n);
  for (uint64_t k = spec.start; k < size; ++k) {
    const uint64_t g = spec.global_start + spec.rank + k * spec.world_size;
    out.push_back((*ids)[order[g < un ? g : (g - un) % un]]);
  }
  return out;
}

std::vector<BatchSlice> SliceBatches(const std::vector<int64_t>& rank_ids, uint64_t first_position, int batch_size,
                                     bool drop_last, uint32_t fan_in_count, uint32_t fan_in_index,
                                     std::vector<int64_t>* ids) {
  std::vector<BatchSlice> out;
  ids->clear();
  const size_t b = static_cast<size_t>(batch_size);
  size_t number = 0;
  for (size_t begin = 0; begin < rank_ids.size(); begin += b, ++number) {
    const size_t count = std::min(b, rank_ids.size() - begin);
    if (drop_last && count < b) break;
    if (number % fan_in_count != fan_in_index) continue;
    out.push_back({ids->size(), count, first_position + begin});
    ids->insert(ids->end(), rank_ids.begin() + static_cast<std::ptrdiff_t>(begin),
                rank_ids.begin() + static_cast<std::ptrdiff_t>(begin + count));
  }
  return out;
}

}  // namespace imagefeed
