#include "client/cli/cli_common.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace imagefeed {

int Fail(const absl::Status& s) {
  std::cerr << "imagefeed: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return kExitError;
}

int UsageError(const absl::Status& s) {
  std::cerr << "imagefeed: " << s.message() << "\n";
  return kExitUsage;
}

int ParseOrExit(FlagSet& flags, const std::vector<std::string>& args) {
  absl::Status s = flags.Parse(args);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!s.ok()) return UsageError(s);
  return -1;
}

absl::StatusOr<v1::DatasetInfo> FindDataset(ImageFeedClient& client, const std::string& name) {
  absl::StatusOr<v1::ListDatasetsResponse> list = client.ListDatasets();
  if (!list.ok()) return list.status();
  std::vector<std::string> names;
  for (const v1::DatasetInfo& d : list->datasets()) {
    if (d.name() == name) return d;
    names.push_back(d.name());
  }
  return absl::NotFoundError(
      absl::StrCat("dataset '", name, "' is not served here (serving: ", absl::StrJoin(names, ", "), ")"));
}

}  // namespace imagefeed
