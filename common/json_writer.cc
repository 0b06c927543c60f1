#include "common/json_writer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace imagefeed {

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

void JsonWriter::Separator() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

void JsonWriter::BeginObject() {
  Separator();
  out_ += '{';
  first_.push_back(true);
}
void JsonWriter::EndObject() {
  out_ += '}';
  first_.pop_back();
}
void JsonWriter::BeginArray() {
  Separator();
  out_ += '[';
  first_.push_back(true);
}
void JsonWriter::EndArray() {
  out_ += ']';
  first_.pop_back();
}
void JsonWriter::Key(absl::string_view key) {
  Separator();
  out_ += JsonQuote(key);
  out_ += ':';
  after_key_ = true;
}
void JsonWriter::String(absl::string_view value) {
  Separator();
  out_ += JsonQuote(value);
}
void JsonWriter::Int(int64_t value) {
  Separator();
  absl::StrAppend(&out_, value);
}
void JsonWriter::Double(double value) {
  Separator();
  if (!std::isfinite(value)) {
    out_ += "null";
  } else {
    out_ += absl::StrFormat("%.9g", value);
  }
}
void JsonWriter::Bool(bool value) {
  Separator();
  out_ += value ? "true" : "false";
}
void JsonWriter::Null() {
  Separator();
  out_ += "null";
}
void JsonWriter::IntArray(absl::string_view key, const std::vector<int64_t>& values) {
  Key(key);
  BeginArray();
  for (int64_t v : values) Int(v);
  EndArray();
}
void JsonWriter::DoubleArray(absl::string_view key, const std::vector<double>& values) {
  Key(key);
  BeginArray();
  for (double v : values) Double(v);
  EndArray();
}
void JsonWriter::StringArray(absl::string_view key, const std::vector<std::string>& values) {
  Key(key);
  BeginArray();
  for (const auto& v : values) String(v);
  EndArray();
}

}  // namespace imagefeed
