#include "server/dataset/label_util.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/dataset/dataset_index.h"

namespace imagefeed {

absl::StatusOr<int64_t> ParseIntegerLabel(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  int64_t value = 0;
  bool digits = !t.empty() && std::all_of(t.begin(), t.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(t, &value)) {
    if (!t.empty() && t[0] == '-' && absl::SimpleAtoi(t, &value)) {
      return absl::InvalidArgumentError(absl::StrCat("label ", value, " is negative; labels are 0..", kMaxLabel));
    }
    return absl::InvalidArgumentError(absl::StrCat("label '", t.substr(0, 40), "' is not an integer"));
  }
  if (value > kMaxLabel) {
    return absl::InvalidArgumentError(absl::StrCat("label ", value, " is above the largest label ", kMaxLabel));
  }
  return value;
}

absl::StatusOr<int64_t> JsonNumberLabel(double value) {
  if (!std::isfinite(value) || std::floor(value) != value) {
    return absl::InvalidArgumentError(absl::StrCat("label ", value, " is not an integer"));
  }
  if (value < 0 || value > static_cast<double>(kMaxLabel)) {
    return absl::InvalidArgumentError(absl::StrCat("label ", value, " is outside 0..", kMaxLabel));
  }
  return static_cast<int64_t>(value);
}

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(absl::string_view text) {
  google::protobuf::Struct out;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &out, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a JSON object: ", std::string(status.message().data(), status.message().size())));
  }
  return out;
}

}  // namespace imagefeed
