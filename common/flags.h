#ifndef IMAGEFEED_COMMON_FLAGS_H_
#define IMAGEFEED_COMMON_FLAGS_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace imagefeed {

// A per-command set of --flags. Written here rather than using absl/flags
// because absl's flags live in one global registry: the CLI needs a separate
// flag set and --help per sub-command, and errors that list allowed values.
// Thread-compatible.
class FlagSet {
 public:
  FlagSet(std::string command, std::string summary);

  void AddString(const std::string& name, std::string* dst, const std::string& help);
  void AddRepeated(const std::string& name, std::vector<std::string>* dst, const std::string& help);
  void AddInt(const std::string& name, int64_t* dst, const std::string& help, int64_t min = INT64_MIN,
              int64_t max = INT64_MAX);
  void AddDouble(const std::string& name, double* dst, const std::string& help);
  void AddBool(const std::string& name, bool* dst, const std::string& help);
  // A string restricted to `allowed`.
  void AddEnum(const std::string& name, std::string* dst, const std::string& help,
               std::vector<std::string> allowed);

  // Parses `--name=value`, `--name value` and, for bools, bare `--name`.
  // Returns INVALID_ARGUMENT naming the flag (and its allowed values) on any
  // bad input; `--help`/`-h` sets help_requested() instead.
  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  // True if `name` appeared on the command line.
  bool IsSet(const std::string& name) const { return set_.count(name) > 0; }
  // Multi-line usage text listing every flag with its default.
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(const std::string&)> set;
  };
  void Add(Flag flag);
  const Flag* Find(const std::string& name) const;

  std::string command_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::set<std::string> set_;
  bool help_requested_ = false;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_FLAGS_H_
