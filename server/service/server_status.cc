#include "server/service/server_status.h"

#include <unistd.h>

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace imagefeed {

void FillStageTotals(const StageSnapshot& s, v1::StageTotals* out) {
  out->set_samples(s.samples);
  out->set_read_seconds(s.seconds[static_cast<int>(Stage::kRead)]);
  out->set_decode_seconds(s.seconds[static_cast<int>(Stage::kDecode)]);
  out->set_resize_seconds(s.seconds[static_cast<int>(Stage::kResize)]);
  out->set_write_seconds(s.seconds[static_cast<int>(Stage::kWrite)]);
  out->set_wait_client_seconds(s.wait_client_seconds);
  out->set_batches_sent(s.batches_sent);
  out->set_bytes_sent(s.bytes_sent);
  out->set_samples_skipped(s.samples_skipped());
  for (int i = 0; i < kNumSkipReasons; ++i) {
    (*out->mutable_skipped_by_reason())[SkipReasonName(static_cast<SkipReason>(i))] = s.skipped[i];
  }
}

void FillHistogram(const std::string& name, const LatencyHistogram::Snapshot& s, v1::Histogram* out) {
  out->set_name(name);
  for (double b : LatencyHistogram::UpperBounds()) out->add_upper_bounds(b);
  for (int64_t c : s.cumulative) out->add_counts(c);
  out->set_sum(s.sum_seconds);
  out->set_count(s.count);
}

int64_t ReadRssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

namespace {

// "NORMALIZATION_STANDARDIZE" -> "standardize".
std::string EnumWord(const std::string& name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(name, prefix));
}

}  // namespace

std::string RequestSummary(const v1::StreamBatchesRequest& r) {
  std::string s = absl::StrCat("batch ", r.batch_size(), ", ");
  if (r.height() > 0) {
    absl::StrAppend(&s, r.width(), "x", r.height());
  } else {
    absl::StrAppend(&s, "native size");
  }
  const bool uint8 = r.dtype() == v1::DTYPE_UINT8;
  const std::string dtype = r.dtype() == v1::DTYPE_UNSPECIFIED ? "float32" : EnumWord(v1::DType_Name(r.dtype()), "DTYPE_");
  absl::StrAppend(&s, " ", dtype, " ", r.layout() == v1::LAYOUT_NHWC ? "NHWC" : "NCHW");
  const v1::Normalization n = r.normalize() == v1::NORMALIZATION_UNSPECIFIED ? v1::NORMALIZATION_RESCALE : r.normalize();
  // uint8 with a normalization sends raw values and the parameters ("uint8 NCHW (standardize)").
  if (!uint8) {
    absl::StrAppend(&s, " ", EnumWord(v1::Normalization_Name(n), "NORMALIZATION_"));
  } else if (r.normalize() != v1::NORMALIZATION_UNSPECIFIED && r.normalize() != v1::NORMALIZATION_NONE) {
    absl::StrAppend(&s, " (", EnumWord(v1::Normalization_Name(n), "NORMALIZATION_"), ")");
  }
  if (r.random_resized_crop()) absl::StrAppend(&s, ", random crop");
  if (r.random_flip()) absl::StrAppend(&s, ", flip");
  if (r.shuffle()) absl::StrAppend(&s, ", shuffle seed ", r.seed());
  absl::StrAppend(&s, ", epoch ", r.epoch());
  if (r.subset() != v1::SUBSET_UNSPECIFIED) absl::StrAppend(&s, ", ", EnumWord(v1::Subset_Name(r.subset()), "SUBSET_"));
  if (r.start() > 0) absl::StrAppend(&s, ", from ", r.start());
  return s;
}

}  // namespace imagefeed
