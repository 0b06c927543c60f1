#ifndef IMAGEFEED_CLIENT_CLI_BATCH_SUMMARY_H_
#define IMAGEFEED_CLIENT_CLI_BATCH_SUMMARY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// Per-channel statistics over a batch's values (population std).
struct ChannelSummary {
  std::vector<double> mean, std, min, max;
};

// Validates the batch's shape/dtype/byte count and summarizes each channel.
// INVALID_ARGUMENT if the tensor bytes do not match the shape.
absl::StatusOr<ChannelSummary> SummarizeBatch(const v1::Batch& batch);

// One JSON object: epoch, position, shape, dtype, labels, sample_ids, mean,
// std, min, max (of the values as sent: raw for uint8), input_scale and
// input_offset when the batch carries them, skipped, and cursor (its token)
// if the batch has one (the `fetch --json` line).
std::string BatchJson(const v1::Batch& batch, const ChannelSummary& summary);

// One human-readable line.
std::string BatchLine(const v1::Batch& batch, const ChannelSummary& summary);

// "float32" / "uint8" / "float16" / "bfloat16".
std::string DTypeName(v1::DType dtype);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_BATCH_SUMMARY_H_
