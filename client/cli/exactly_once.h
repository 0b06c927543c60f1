#ifndef IMAGEFEED_CLIENT_CLI_EXACTLY_ONCE_H_
#define IMAGEFEED_CLIENT_CLI_EXACTLY_ONCE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// The number of positions (delivered plus skipped samples) a stream of
// `request` must cover over a dataset of `num_samples`: the subset of the
// validation split (floor(validation_split * N) samples are validation,
// the product taken in double like the server does), then rank `rank` of
// `world_size` (positions r, r+W, ...), minus `start`, rounded down to
// whole batches under drop_last. nullopt for an invalid request
// (rank >= world_size), which the server rejects anyway.
std::optional<int64_t> ExpectedPositions(const v1::StreamBatchesRequest& request, int64_t num_samples);

// The positions a stream of `request` described by `d` must cover: the
// rank's positions from the stream's first one (resume cursor or start),
// rounded down to whole batches under drop_last.
int64_t ExpectedFromDescription(const v1::StreamDescription& d, const v1::StreamBatchesRequest& request);

// What an epoch delivered, as `imagefeed epoch` reports it.
struct DeliveryReport {
  int64_t batches = 0;
  int64_t samples = 0;              // delivered sample ids, with repeats
  int64_t unique = 0;               // distinct delivered ids
  int64_t skipped = 0;              // skipped reports, with repeats
  int64_t duplicates = 0;           // ids delivered or skipped more than once
  int64_t out_of_range = 0;         // ids outside [0, num_samples)
  int64_t position_errors = 0;      // batches not contiguous with the previous one, or span != samples + skipped - replaced
  int64_t padded = 0;               // padded repeats (even_shards=pad): positions covered, ids not counted
  int64_t replaced = 0;             // stand-ins for skipped samples (fill_skipped): ids not counted
  std::optional<int64_t> expected;  // positions the stream should cover
  std::optional<int64_t> missing;   // expected minus distinct ids covered (if expected is known)
  std::optional<int64_t> extra;     // distinct ids covered beyond expected (if expected is known)

  // True if every expected sample was delivered or skipped exactly once.
  bool ok() const {
    return duplicates == 0 && out_of_range == 0 && position_errors == 0 && missing.value_or(0) == 0 &&
           extra.value_or(0) == 0;
  }
};

// Checks that a stream delivers each sample of its share exactly once:
// no id twice (delivered or skipped), ids in range, batches contiguous in
// position from `start`. Padded repeats and fill_skipped stand-ins (listed
// in the batch) cover their position without counting their id. Memory:
// one byte per dataset sample.
// Thread-compatible.
class ExactlyOnceChecker {
 public:
  ExactlyOnceChecker(int64_t num_samples, uint64_t start);

  // Records one batch in stream order.
  void Add(const v1::Batch& batch);
  // The report so far; `expected` from ExpectedPositions.
  DeliveryReport Report(std::optional<int64_t> expected) const;

 private:
  // Marks `id` as covered; counts a duplicate or out-of-range id.
  void Mark(int64_t id);

  std::vector<uint8_t> seen_;  // 0 none, 1 delivered, 2 skipped
  uint64_t next_position_;
  DeliveryReport report_;
  int64_t covered_ = 0;  // distinct ids delivered or skipped
};

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_EXACTLY_ONCE_H_
