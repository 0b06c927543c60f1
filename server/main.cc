// imagefeed-server: serves image datasets as streams of decoded batches.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "server/dataset/dataset_index.h"
#include "server/dataset/demo_dataset.h"
#include "server/service/imagefeed_core.h"
#include "server/service/imagefeed_service.h"

namespace imagefeed {
namespace {

struct ServerFlags {
  std::string listen = "127.0.0.1:50051";
  std::vector<std::string> datasets;
  int64_t threads = 0;
  std::string cache_dir = DefaultCacheDir();
  int64_t max_batch_bytes = int64_t{256} << 20;
  int64_t max_batch_size = 4096;
  int64_t max_side = 8192;
  int64_t max_pixels = 100'000'000;
  std::vector<std::string> color_modes;
  int64_t stats_sample = 0;
  int64_t stats_seed = 0;
  std::string auth_token_file;
  std::string tls_cert;
  std::string tls_key;
};

// Server credentials: TLS when a certificate and key are given, else plaintext.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(const ServerFlags& f) {
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (f.tls_cert.empty()) return grpc::InsecureServerCredentials();
  std::vector<uint8_t> cert, key;
  absl::Status s = ReadFileToBuffer(f.tls_cert, &cert, 1 << 20);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("--tls_cert: ", s.message()));
  s = ReadFileToBuffer(f.tls_key, &key, 1 << 20);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("--tls_key: ", s.message()));
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({std::string(key.begin(), key.end()), std::string(cert.begin(), cert.end())});
  return grpc::SslServerCredentials(options);
}

// True for addresses only this machine can reach.
bool IsLoopback(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.") ||
         absl::StartsWith(host, "unix:");
}

// Parses the repeatable --color_mode=NAME=rgb|grayscale.
absl::StatusOr<std::map<std::string, ColorMode>> ParseColorModes(const std::vector<std::string>& specs) {
  std::map<std::string, ColorMode> out;
  for (const std::string& spec : specs) {
    size_t eq = spec.rfind('=');
    std::string mode = eq == std::string::npos ? "" : spec.substr(eq + 1);
    if (eq == std::string::npos || eq == 0 || (mode != "rgb" && mode != "grayscale")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--color_mode: '", spec, "' is not NAME=MODE with MODE one of rgb, grayscale"));
    }
    out[spec.substr(0, eq)] = mode == "grayscale" ? ColorMode::kGrayscale : ColorMode::kRgb;
  }
  return out;
}

absl::StatusOr<std::vector<DatasetConfig>> LoadDatasets(const ServerFlags& flags) {
  auto modes = ParseColorModes(flags.color_modes);
  if (!modes.ok()) return modes.status();
  std::vector<DatasetConfig> out;
  std::set<std::string> names;
  for (const std::string& spec : flags.datasets) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--dataset: '", spec, "' is not NAME=PATH"));
    }
    std::string name = spec.substr(0, eq);
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("--dataset: name '", name, "' is given twice"));
    }
    auto index = DatasetIndex::Build(name, spec.substr(eq + 1));
    if (!index.ok()) return index.status();
    out.push_back({*std::move(index), ColorMode::kRgb});
  }
  if (out.empty()) {
    auto root = EnsureDemoDataset(flags.cache_dir);
    if (!root.ok()) return root.status();
    auto index = DatasetIndex::Build("demo", *root);
    if (!index.ok()) return index.status();
    out.push_back({*std::move(index), ColorMode::kRgb});
  }
  for (const auto& [name, mode] : *modes) {
    auto it = std::find_if(out.begin(), out.end(), [&](const DatasetConfig& d) { return d.index->name() == name; });
    if (it == out.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--color_mode: no dataset named '", name, "'"));
    }
    it->color_mode = mode;
  }
  return out;
}

// "HOST:PORT" with the port replaced by the one actually bound.
std::string ListenAddress(const std::string& listen, int port) {
  size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

int Run(int argc, char** argv) {
  ServerFlags f;
  FlagSet flags("imagefeed-server", "Serves image datasets as gRPC streams of decoded, normalized batches.");
  flags.AddString("listen", &f.listen, "HOST:PORT to listen on; port 0 picks a free port");
  flags.AddRepeated("dataset", &f.datasets, "NAME=PATH of an ImageFolder dataset; none = the built-in 'demo'");
  flags.AddInt("threads", &f.threads, "decode/transform worker threads; 0 = all cores", 0, 1024);
  flags.AddString("cache_dir", &f.cache_dir, "directory for the demo dataset and caches");
  flags.AddInt("max_batch_bytes", &f.max_batch_bytes, "largest batch tensor in bytes", 1, int64_t{2000} << 20);
  flags.AddInt("max_batch_size", &f.max_batch_size, "largest batch_size a request may ask for", 1, 1 << 20);
  flags.AddInt("max_side", &f.max_side, "largest requested height or width", 1, 1 << 16);
  flags.AddInt("max_pixels", &f.max_pixels, "largest image (width*height) decoded", 1, int64_t{1} << 40);
  flags.AddRepeated("color_mode", &f.color_modes, "NAME=rgb|grayscale: colour mode of a dataset (default rgb)");
  flags.AddInt("stats_sample", &f.stats_sample, "fit statistics on a seeded sample of N images; 0 = all", 0);
  flags.AddInt("stats_seed", &f.stats_seed, "seed of the --stats_sample sample", 0);
  flags.AddString("auth_token_file", &f.auth_token_file,
                  "require 'authorization: Bearer <token>' on every RPC except health (token read from this file)");
  flags.AddString("tls_cert", &f.tls_cert, "PEM certificate chain: serve TLS (with --tls_key)");
  flags.AddString("tls_key", &f.tls_key, "PEM private key of --tls_cert");
  absl::Status parsed = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!parsed.ok()) {
    std::cerr << "imagefeed-server: " << parsed.message() << "\n";
    return 2;
  }

  // Block the shutdown signals in every thread; main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Keep large batch buffers in the heap instead of mmap/munmap per batch.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1024 << 20);

  auto datasets = LoadDatasets(f);
  if (!datasets.ok()) {
    std::cerr << "imagefeed-server: " << datasets.status().message() << "\n";
    return 1;
  }
  ServerLimits limits;
  limits.max_batch_bytes = f.max_batch_bytes;
  limits.max_batch_size = f.max_batch_size;
  limits.max_side = f.max_side;
  limits.max_pixels = f.max_pixels;
  limits.threads = f.threads > 0 ? static_cast<int>(f.threads)
                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  StatsConfig stats;
  stats.cache_dir = f.cache_dir;
  stats.sample_limit = f.stats_sample;
  stats.sample_seed = static_cast<uint64_t>(f.stats_seed);
  TokenAuth auth;
  if (!f.auth_token_file.empty()) {
    auto loaded = TokenAuth::FromFile(f.auth_token_file);
    if (!loaded.ok()) {
      std::cerr << "imagefeed-server: " << loaded.status().message() << "\n";
      return 1;
    }
    auth = *std::move(loaded);
  }
  auto credentials = MakeCredentials(f);
  if (!credentials.ok()) {
    std::cerr << "imagefeed-server: " << credentials.status().message() << "\n";
    return 1;
  }
  if (!auth.enabled() && !IsLoopback(f.listen)) {
    std::cerr << "imagefeed-server: warning: listening on " << f.listen
              << " without --auth_token_file: anyone who can reach this address can read the datasets\n";
  }
  ImageFeedCore core(*std::move(datasets), limits, stats);
  ImageFeedService service(&core, auth);

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection would be an unauthenticated service: only without a token.
  if (!auth.enabled()) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(f.listen, *credentials, &port);
  builder.RegisterService(&service);
  // Header fields and framing ride on top of the tensor bytes.
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<int64_t>(f.max_batch_bytes + (16 << 20), INT32_MAX)));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "imagefeed-server: cannot listen on " << f.listen << "\n";
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(v1::ImageFeed::service_full_name(), true);
  std::cout << "imagefeed-server listening on " << ListenAddress(f.listen, port) << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "imagefeed-server: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down\n";
  // Health probes see NOT_SERVING while the running streams wind down.
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) {
  const int rc = imagefeed::Run(argc, argv);
  // Everything of ours is shut down and destroyed inside Run(). Skip the static destructors:
  // gRPC's internal threads may still be winding down and touch globals they destroy.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}
