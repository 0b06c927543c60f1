#include "server/dataset/file_list.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "server/dataset/label_util.h"

namespace imagefeed {
namespace {

// One record before labels are resolved.
struct Record {
  std::string path;
  std::string label;
  bool label_is_number;
  int64_t line;
};

// Splits one CSV/TSV line; double quotes group (and "" escapes) as Python's
// csv module writes them. False on an unterminated quote.
bool SplitDelimited(absl::string_view line, char delim, std::vector<std::string>* fields) {
  fields->assign(1, "");
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields->back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields->back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == delim) {
      fields->emplace_back();
    } else {
      fields->back() += c;
    }
  }
  return !quoted;
}

absl::Status ParseCsv(const std::vector<absl::string_view>& lines, absl::string_view file, std::vector<Record>* out) {
  const absl::string_view header = lines.empty() ? "" : lines[0];
  const bool tsv = absl::EndsWith(file, ".tsv") || (absl::StrContains(header, '\t') && !absl::StrContains(header, ','));
  const char delim = tsv ? '\t' : ',';
  std::vector<std::string> fields;
  SplitDelimited(header, delim, &fields);
  int path_col = -1, label_col = -1;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string f(absl::StripAsciiWhitespace(fields[i]));
    if (f == "path") path_col = static_cast<int>(i);
    if (f == "label") label_col = static_cast<int>(i);
  }
  if (path_col < 0 || label_col < 0) {
    return absl::InvalidArgumentError(absl::StrCat(file, ":1: the header must name the columns 'path' and 'label' (",
                                                   tsv ? "tab" : "comma", "-separated), found '",
                                                   header.substr(0, 80), "'"));
  }
  const size_t need = static_cast<size_t>(std::max(path_col, label_col)) + 1;
  for (size_t n = 1; n < lines.size(); ++n) {
    if (absl::StripAsciiWhitespace(lines[n]).empty()) continue;
    if (!SplitDelimited(lines[n], delim, &fields) || fields.size() < need) {
      return absl::InvalidArgumentError(absl::StrCat(file, ":", n + 1, ": expected ", need,
                                                     " fields with 'path' and 'label' (or an unclosed quote)"));
    }
    std::string label(absl::StripAsciiWhitespace(fields[label_col]));
    const bool number = !label.empty() && std::all_of(label.begin(), label.end(), absl::ascii_isdigit);
    out->push_back(Record{fields[path_col], std::move(label), number, static_cast<int64_t>(n + 1)});
  }
  return absl::OkStatus();
}

absl::Status ParseJsonl(const std::vector<absl::string_view>& lines, absl::string_view file, std::vector<Record>* out) {
  for (size_t n = 0; n < lines.size(); ++n) {
    if (absl::StripAsciiWhitespace(lines[n]).empty()) continue;
    const std::string where = absl::StrCat(file, ":", n + 1);
    auto json = ParseJsonObject(lines[n]);
    if (!json.ok()) return WithContext(json.status(), where);
    const auto& fields = json->fields();
    auto path = fields.find("path");
    auto label = fields.find("label");
    if (path == fields.end() || path->second.kind_case() != google::protobuf::Value::kStringValue) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no string field 'path'"));
    }
    if (label == fields.end()) return absl::InvalidArgumentError(absl::StrCat(where, ": no field 'label'"));
    Record r{path->second.string_value(), "", false, static_cast<int64_t>(n + 1)};
    if (label->second.kind_case() == google::protobuf::Value::kNumberValue) {
      auto value = JsonNumberLabel(label->second.number_value());
      if (!value.ok()) return WithContext(value.status(), where);
      r.label = absl::StrCat(*value);
      r.label_is_number = true;
    } else if (label->second.kind_case() == google::protobuf::Value::kStringValue) {
      r.label = label->second.string_value();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'label' is neither an integer nor a class name"));
    }
    if (!out->empty() && out->back().label_is_number != r.label_is_number) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": labels mix numbers and strings; use integers or class names throughout"));
    }
    out->push_back(std::move(r));
  }
  return absl::OkStatus();
}

// Refuses paths that could leave the list's folder, before any file is touched.
absl::Status CheckPath(const std::string& path, bool allow_absolute, const std::string& where) {
  if (path.empty() || path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": empty path"));
  }
  if (path[0] == '/') {
    if (allow_absolute) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(where, ": absolute path '", path,
                                                   "'; paths are relative to the list's folder, or pass "
                                                   "--allow_absolute_list_paths"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(where, ": path '", path, "' leaves the list's folder ('..')"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadFileList(const std::string& list_file, int base_fd, bool allow_absolute, FileListContents* out) {
  std::vector<uint8_t> bytes;
  RETURN_IF_ERROR(WithContext(ReadFileToBuffer(list_file, &bytes), "file list"));
  const absl::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  for (absl::string_view& l : lines) absl::ConsumeSuffix(&l, "\r");
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::vector<Record> records;
  const bool jsonl = !lines.empty() && absl::StartsWith(absl::StripLeadingAsciiWhitespace(lines[0]), "{");
  RETURN_IF_ERROR(jsonl ? ParseJsonl(lines, list_file, &records) : ParseCsv(lines, list_file, &records));
  if (records.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("file list '", list_file, "' lists no samples"));
  }
  const bool integers = std::all_of(records.begin(), records.end(), [](const Record& r) { return r.label_is_number; });
  std::map<std::string, int64_t> class_ids;
  if (!integers) {
    for (const Record& r : records) class_ids.emplace(r.label, 0);
    for (auto& [name, id] : class_ids) {
      id = static_cast<int64_t>(out->classes.size());
      out->classes.push_back(name);
    }
  }
  out->samples.reserve(records.size());
  for (Record& r : records) {
    const std::string where = absl::StrCat(list_file, ":", r.line);
    RETURN_IF_ERROR(CheckPath(r.path, allow_absolute, where));
    SampleEntry e;
    if (integers) {
      auto label = ParseIntegerLabel(r.label);
      if (!label.ok()) return WithContext(label.status(), where);
      e.label = *label;
    } else {
      e.label = class_ids[r.label];
    }
    struct stat st;
    if (fstatat(base_fd, r.path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return absl::NotFoundError(absl::StrCat(where, ": cannot stat '", r.path, "': ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": '", r.path, "' is not a regular file",
                                                        S_ISLNK(st.st_mode) ? " (symlinks are not followed)" : ""));
    }
    e.relative_path = std::move(r.path);
    e.size_bytes = static_cast<int64_t>(st.st_size);
    e.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    out->samples.push_back(std::move(e));
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
