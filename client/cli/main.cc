// imagefeed: command-line client of imagefeed-server.
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/batch_summary.h"
#include "client/cli/stream_flags.h"
#include "client/imagefeed_client.h"
#include "common/flags.h"
#include "common/json_writer.h"

namespace imagefeed {
namespace {

constexpr char kUsage[] =
    "usage: imagefeed <command> [flags]\n"
    "\n"
    "commands:\n"
    "  info    list the server's datasets\n"
    "  fetch   stream batches and print one line per batch\n"
    "\n"
    "'imagefeed <command> --help' lists a command's flags.\n";

// Prints an error as CODE: message and returns the exit code.
int Fail(const absl::Status& s) {
  std::cerr << "imagefeed: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return 1;
}

int UsageError(const absl::Status& s) {
  std::cerr << "imagefeed: " << s.message() << "\n";
  return 2;
}

// Parses `args` into `flags`; returns -1 to continue, else an exit code.
int ParseOrExit(FlagSet& flags, const std::vector<std::string>& args) {
  absl::Status s = flags.Parse(args);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!s.ok()) return UsageError(s);
  return -1;
}

int Info(const std::vector<std::string>& args) {
  std::string server = "127.0.0.1:50051";
  bool json = false;
  FlagSet flags("imagefeed info", "Lists the datasets a server serves.");
  flags.AddString("server", &server, "server address HOST:PORT");
  flags.AddBool("json", &json, "print JSON");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  ImageFeedClient client(server);
  auto response = client.ListDatasets();
  if (!response.ok()) return Fail(response.status());
  if (json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("datasets");
    j.BeginArray();
    for (const auto& d : response->datasets()) {
      j.BeginObject();
      j.Key("name");
      j.String(d.name());
      j.Key("num_samples");
      j.Int(d.num_samples());
      j.StringArray("classes", {d.classes().begin(), d.classes().end()});
      j.IntArray("class_counts", {d.class_counts().begin(), d.class_counts().end()});
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
    std::cout << j.str() << "\n";
    return 0;
  }
  for (const auto& d : response->datasets()) {
    std::cout << d.name() << ": " << d.num_samples() << " samples, " << d.classes_size() << " classes\n";
    for (int i = 0; i < d.classes_size(); ++i) {
      std::cout << "  " << i << " " << d.classes(i) << " (" << d.class_counts(i) << ")\n";
    }
  }
  return 0;
}

int Fetch(const std::vector<std::string>& args) {
  std::string server = "127.0.0.1:50051";
  bool json = false;
  int64_t batches = 0;
  StreamFlags stream;
  FlagSet flags("imagefeed fetch", "Streams batches and prints one line (or JSON object) per batch.");
  flags.AddString("server", &server, "server address HOST:PORT");
  flags.AddInt("batches", &batches, "stop after this many batches; 0 = to the end of the epoch", 0);
  flags.AddBool("json", &json,
                "one JSON object per batch: epoch, position, shape, dtype, labels, sample_ids, mean, std, min, max, "
                "skipped");
  stream.Register(&flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto request = stream.ToRequest(flags);
  if (!request.ok()) return UsageError(request.status());

  ImageFeedClient client(server);
  auto reader = client.StreamBatches(*request);
  v1::Batch batch;
  int64_t count = 0;
  while ((batches == 0 || count < batches) && reader->Next(&batch)) {
    auto summary = SummarizeBatch(batch);
    if (!summary.ok()) {
      reader->Cancel();
      reader->Finish().IgnoreError();
      return Fail(summary.status());
    }
    std::cout << (json ? BatchJson(batch, *summary) : BatchLine(batch, *summary)) << std::endl;
    ++count;
  }
  if (batches != 0 && count >= batches) {
    reader->Cancel();  // we have what we asked for
    reader->Finish().IgnoreError();
    return 0;
  }
  absl::Status s = reader->Finish();
  if (!s.ok()) return Fail(s);
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "info") return Info(args);
  if (command == "fetch") return Fetch(args);
  std::cerr << "imagefeed: unknown command '" << command << "'\n" << kUsage;
  return 2;
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) { return imagefeed::Main(argc, argv); }
