#include "client/cli/exactly_once.h"

#include <algorithm>
#include <cmath>

namespace imagefeed {
namespace {

// Size of the subset the request reads: floor(validation_split * N)
// validation samples, computed in double from the float split as the server
// does (server/pipeline/sample_order.cc), so 0.7f * 10 gives 6, not 7.
int64_t SubsetSize(const v1::StreamBatchesRequest& r, int64_t n) {
  if (r.subset() == v1::SUBSET_UNSPECIFIED) return n;
  const int64_t validation =
      static_cast<int64_t>(std::floor(static_cast<double>(r.validation_split()) * static_cast<double>(n)));
  const int64_t clamped = std::clamp<int64_t>(validation, 0, n);
  return r.subset() == v1::SUBSET_VALIDATION ? clamped : n - clamped;
}

}  // namespace

std::optional<int64_t> ExpectedPositions(const v1::StreamBatchesRequest& r, int64_t num_samples) {
  const std::optional<int64_t> n = SubsetSize(r, num_samples);
  const int64_t world = std::max<int64_t>(1, r.world_size());
  const int64_t rank = r.rank();
  if (rank >= world) return std::nullopt;
  const int64_t share = *n / world + (rank < *n % world ? 1 : 0);
  const int64_t start = static_cast<int64_t>(std::min<uint64_t>(r.start(), static_cast<uint64_t>(share)));
  int64_t left = share - start;
  if (r.drop_last() && r.batch_size() > 0) left -= left % r.batch_size();
  return left;
}

int64_t ExpectedFromDescription(const v1::StreamDescription& d, const v1::StreamBatchesRequest& r) {
  int64_t left = d.rank_positions() > d.first_position() ? static_cast<int64_t>(d.rank_positions() - d.first_position()) : 0;
  if (r.drop_last() && r.batch_size() > 0) left -= left % r.batch_size();
  return left;
}

ExactlyOnceChecker::ExactlyOnceChecker(int64_t num_samples, uint64_t start)
    : seen_(static_cast<size_t>(std::max<int64_t>(0, num_samples)), 0), next_position_(start) {}

void ExactlyOnceChecker::Mark(int64_t id) {
  if (id < 0 || id >= static_cast<int64_t>(seen_.size())) {
    ++report_.out_of_range;
    return;
  }
  if (seen_[id] != 0) {
    ++report_.duplicates;
    return;
  }
  seen_[id] = 1;
  ++covered_;
}

void ExactlyOnceChecker::Add(const v1::Batch& batch) {
  ++report_.batches;
  if (batch.position() != next_position_ ||
      batch.span() != static_cast<uint64_t>(batch.sample_ids_size() + batch.skipped_size() - batch.replaced_size())) {
    ++report_.position_errors;
  }
  next_position_ = batch.position() + batch.span();
  std::vector<bool> stand_in(static_cast<size_t>(batch.sample_ids_size()), false);
  for (uint32_t i : batch.padded()) {
    if (i < stand_in.size() && !stand_in[i]) {
      stand_in[i] = true;
      ++report_.padded;
      ++covered_;  // the position is covered; the id was (or will be) delivered once
    }
  }
  for (const v1::Replacement& r : batch.replaced()) {
    if (r.index() < stand_in.size() && !stand_in[r.index()]) {
      stand_in[r.index()] = true;
      ++report_.replaced;  // its position is covered by the original's `skipped` entry
    }
  }
  for (int i = 0; i < batch.sample_ids_size(); ++i) {
    ++report_.samples;
    if (stand_in[static_cast<size_t>(i)]) continue;
    const int64_t before = covered_;
    Mark(batch.sample_ids(i));
    if (covered_ > before) ++report_.unique;
  }
  for (const v1::SkippedSample& s : batch.skipped()) {
    ++report_.skipped;
    Mark(s.sample_id());
  }
}

DeliveryReport ExactlyOnceChecker::Report(std::optional<int64_t> expected) const {
  DeliveryReport r = report_;
  r.expected = expected;
  if (expected) {
    r.missing = std::max<int64_t>(0, *expected - covered_);
    r.extra = std::max<int64_t>(0, covered_ - *expected);
  }
  return r;
}

}  // namespace imagefeed
