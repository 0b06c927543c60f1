#ifndef IMAGEFEED_COMMON_JSON_WRITER_H_
#define IMAGEFEED_COMMON_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace imagefeed {

// Builds one compact JSON value. Keys and strings are escaped; non-finite
// doubles become null. Thread-compatible. Usage:
//   JsonWriter j; j.BeginObject(); j.Key("n"); j.Int(3); j.EndObject(); j.str();
// protobuf's JSON printer is not used for CLI output because it prints int64
// as strings and renames keys; scripts rely on the exact keys and numbers.
class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(absl::string_view key);
  void String(absl::string_view value);
  void Int(int64_t value);
  void Double(double value);
  void Bool(bool value);
  void Null();
  // Convenience: key followed by an array of numbers or strings.
  void IntArray(absl::string_view key, const std::vector<int64_t>& values);
  void DoubleArray(absl::string_view key, const std::vector<double>& values);
  void StringArray(absl::string_view key, const std::vector<std::string>& values);

  const std::string& str() const { return out_; }

 private:
  void Separator();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

// Returns `s` as a quoted, escaped JSON string.
std::string JsonQuote(absl::string_view s);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_JSON_WRITER_H_
