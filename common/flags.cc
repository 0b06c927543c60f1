#include "common/flags.h"

#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace imagefeed {

FlagSet::FlagSet(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

const FlagSet::Flag* FlagSet::Find(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void FlagSet::AddString(const std::string& name, std::string* dst, const std::string& help) {
  Add({name, help, *dst, false, [dst](const std::string& v) {
         *dst = v;
         return absl::OkStatus();
       }});
}

void FlagSet::AddRepeated(const std::string& name, std::vector<std::string>* dst, const std::string& help) {
  Add({name, help + " (repeatable)", "", false, [dst](const std::string& v) {
         dst->push_back(v);
         return absl::OkStatus();
       }});
}

void FlagSet::AddInt(const std::string& name, int64_t* dst, const std::string& help, int64_t min,
                     int64_t max) {
  Add({name, help, absl::StrCat(*dst), false, [=](const std::string& v) {
         int64_t parsed;
         if (!absl::SimpleAtoi(v, &parsed)) {
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", v, "' is not an integer"));
         }
         if (parsed < min || parsed > max) {
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", parsed, " is outside [", min,
                                                          ", ", max, "]"));
         }
         *dst = parsed;
         return absl::OkStatus();
       }});
}

void FlagSet::AddDouble(const std::string& name, double* dst, const std::string& help) {
  Add({name, help, absl::StrCat(*dst), false, [=](const std::string& v) {
         double parsed;
         if (!absl::SimpleAtod(v, &parsed)) {
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", v, "' is not a number"));
         }
         *dst = parsed;
         return absl::OkStatus();
       }});
}

void FlagSet::AddBool(const std::string& name, bool* dst, const std::string& help) {
  Add({name, help, *dst ? "true" : "false", true, [=](const std::string& v) {
         std::string lower = absl::AsciiStrToLower(v);
         if (lower == "true" || lower == "1" || lower == "yes") {
           *dst = true;
         } else if (lower == "false" || lower == "0" || lower == "no") {
           *dst = false;
         } else {
           return absl::InvalidArgumentError(
               absl::StrCat("--", name, ": '", v, "' is not one of true, false"));
         }
         return absl::OkStatus();
       }});
}

void FlagSet::AddEnum(const std::string& name, std::string* dst, const std::string& help,
                      std::vector<std::string> allowed) {
  std::string joined = absl::StrJoin(allowed, "|");
  Add({name, absl::StrCat(help, " (", joined, ")"), *dst, false,
       [=](const std::string& v) {
         for (const auto& a : allowed) {
           if (a == v) {
             *dst = v;
             return absl::OkStatus();
           }
         }
         return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", v, "' is not one of ",
                                                        absl::StrJoin(allowed, ", ")));
       }});
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      help_requested_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'; see '", command_, " --help'"));
    }
    std::string body = arg.substr(2);
    std::string name = body;
    std::string value;
    bool has_value = false;
    size_t eq = body.find('=');
    if (eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see '", command_, " --help'"));
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    absl::Status s = flag->set(value);
    if (!s.ok()) return s;
    set_.insert(name);
  }
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("usage: ", command_, " [flags]\n", summary_, "\n\nflags:\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, "\n      ", f.help);
    if (!f.default_text.empty()) absl::StrAppend(&out, " [default: ", f.default_text, "]");
    out += "\n";
  }
  return out;
}

}  // namespace imagefeed
