#ifndef IMAGEFEED_SERVER_DATASET_LABEL_UTIL_H_
#define IMAGEFEED_SERVER_DATASET_LABEL_UTIL_H_

// Labels and JSON records shared by the tar and file-list layouts.

#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace imagefeed {

// Parses `text` (surrounding ASCII whitespace allowed) as a decimal label in
// 0..kMaxLabel. INVALID_ARGUMENT says which of the two it is not.
absl::StatusOr<int64_t> ParseIntegerLabel(absl::string_view text);

// The label held by a JSON number: it must be integral and in 0..kMaxLabel.
absl::StatusOr<int64_t> JsonNumberLabel(double value);

// Parses one JSON object with protobuf's JSON parser (a well-kept one we
// already link; numbers come back as doubles, exact up to 2^53, far above
// kMaxLabel). INVALID_ARGUMENT if `text` is not a JSON object.
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(absl::string_view text);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DATASET_LABEL_UTIL_H_
