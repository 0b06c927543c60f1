// imagefeed info: lists the datasets a server serves.
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"

#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "common/json_writer.h"

namespace imagefeed {
namespace {

void PrintJson(const v1::ListDatasetsResponse& response) {
  JsonWriter j;
  j.BeginObject();
  j.Key("datasets");
  j.BeginArray();
  for (const auto& d : response.datasets()) {
    j.BeginObject();
    j.Key("name");
    j.String(d.name());
    j.Key("num_samples");
    j.Int(d.num_samples());
    j.Key("format");
    j.String(d.format());
    j.StringArray("classes", {d.classes().begin(), d.classes().end()});
    j.IntArray("class_counts", {d.class_counts().begin(), d.class_counts().end()});
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  std::cout << j.str() << "\n";
}

// FAILED_PRECONDITION naming both servers if they serve different datasets.
absl::Status SameDatasets(const std::string& a, const v1::ListDatasetsResponse& la, const std::string& b,
                          const v1::ListDatasetsResponse& lb) {
  std::map<std::string, std::string> fa, fb;
  for (const auto& d : la.datasets()) fa[d.name()] = d.fingerprint();
  for (const auto& d : lb.datasets()) fb[d.name()] = d.fingerprint();
  for (const auto& [name, fp] : fa) {
    auto it = fb.find(name);
    if (it == fb.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("server ", a, " serves dataset '", name, "' and server ", b, " does not"));
    }
    if (it->second != fp) {
      return absl::FailedPreconditionError(absl::StrCat("servers ", a, " and ", b, " serve different versions of dataset '",
                                                        name, "' (fingerprints ", fp.substr(0, 12), " and ",
                                                        it->second.substr(0, 12), ")"));
    }
  }
  if (fa.size() != fb.size()) {
    return absl::FailedPreconditionError(absl::StrCat("server ", b, " serves datasets that ", a, " does not"));
  }
  return absl::OkStatus();
}

}  // namespace

int RunInfo(const Args& args) {
  ConnectionFlags conn;
  bool json = false;
  FlagSet flags("imagefeed info",
                "Lists the datasets a server serves. With several servers, checks that they all serve the same "
                "datasets (content fingerprints).");
  conn.Register(&flags);
  flags.AddBool("json", &json, "print JSON");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto connected = conn.ConnectAll();
  if (!connected.ok()) return UsageError(connected.status());
  auto response = (*connected)[0]->ListDatasets();
  if (!response.ok()) return Fail(response.status());
  // Several servers: they must serve the same datasets (names and content
  // fingerprints), or a fan-in over them would be refused.
  for (size_t i = 1; i < connected->size(); ++i) {
    auto other = (*connected)[i]->ListDatasets();
    if (!other.ok()) return Fail(other.status());
    if (absl::Status s = SameDatasets((*connected)[0]->target(), *response, (*connected)[i]->target(), *other);
        !s.ok()) {
      return Fail(s);
    }
  }
  if (json) {
    PrintJson(*response);
    return 0;
  }
  for (const auto& d : response->datasets()) {
    std::cout << d.name() << ": " << d.num_samples() << " samples, " << d.classes_size() << " classes, format "
              << (d.format().empty() ? "unknown" : d.format()) << "\n";
    for (int i = 0; i < d.classes_size(); ++i) {
      std::cout << "  " << i << " " << d.classes(i) << " (" << d.class_counts(i) << ")\n";
    }
  }
  return 0;
}

}  // namespace imagefeed
