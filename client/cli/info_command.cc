// imagefeed info: lists the datasets a server serves.
#include <iostream>

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

}  // namespace

int RunInfo(const Args& args) {
  ConnectionFlags conn;
  bool json = false;
  FlagSet flags("imagefeed info", "Lists the datasets a server serves.");
  conn.Register(&flags);
  flags.AddBool("json", &json, "print JSON");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto connected = conn.Connect();
  if (!connected.ok()) return UsageError(connected.status());
  ImageFeedClient& client = **connected;
  auto response = client.ListDatasets();
  if (!response.ok()) return Fail(response.status());
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
