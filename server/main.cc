// imagefeed-server: serves image datasets as streams of decoded batches.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/mutex.h"
#include "common/system_memory.h"
#include "server/dataset/dataset_index.h"
#include "server/dataset/demo_dataset.h"
#include "server/http/http_server.h"
#include "server/http/preview_png.h"
#include "server/runtime/shm_ring.h"
#include "server/service/imagefeed_core.h"
#include "server/service/imagefeed_service.h"

namespace imagefeed {
namespace {

// Flushes and ends the process without static destructors: gRPC's internal
// threads may still be winding down and touch globals they destroy.
[[noreturn]] void ExitProcess(int rc) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}

struct ServerFlags {
  std::string listen = "127.0.0.1:50051";
  std::vector<std::string> datasets;
  std::vector<std::string> label_fields;  // NAME=FIELD
  bool allow_absolute_list_paths = false;
  int64_t threads = 0;
  std::string cache_dir = DefaultCacheDir();
  int64_t max_batch_bytes = int64_t{256} << 20;
  int64_t max_batch_size = 4096;
  int64_t max_side = 8192;
  int64_t max_pixels = 100'000'000;
  bool jpeg_ycc_resize = true;
  std::vector<std::string> color_modes;
  int64_t stats_sample = 0;
  int64_t stats_seed = 0;
  std::string auth_token_file;
  std::string tls_cert;
  std::string tls_key;
  std::string memory_budget;  // empty = DefaultMemoryBudget()
  int64_t max_streams = 0;
  int64_t drain_seconds = 30;
  std::string http_listen;  // empty = no HTTP endpoint
};

// Receives SIGINT and SIGTERM on its own thread (the caller blocks them in
// every thread first). Until MarkServing(), a signal ends the process at once
// with exit 0: nothing is served yet, and start-up (indexing, generating the
// demo dataset, loading statistics) can take minutes that an orchestrator
// stopping the container should not have to wait. Thread-safe.
class ShutdownSignals {
 public:
  explicit ShutdownSignals(const sigset_t& signals) : signals_(signals) {
    // Detached: it blocks in sigwait until the process ends (main() _Exits).
    std::thread([this] { Loop(); }).detach();
  }
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // From now on a signal is reported to Wait() instead of ending the process.
  void MarkServing() {
    MutexLock lock(&mu_);
    serving_ = true;
  }

  // Blocks until a signal arrives while serving; returns it.
  int Wait() {
    MutexLock lock(&mu_);
    while (signal_ == 0) received_.Wait(&mu_);
    return signal_;
  }

 private:
  void Loop() {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals_, &sig) != 0) continue;
      MutexLock lock(&mu_);
      if (!serving_) {
        std::fprintf(stderr, "imagefeed-server: %s during start-up, exiting\n", SignalName(sig));
        std::fflush(stdout);
        std::fflush(stderr);
        _exit(0);  // other threads may be mid-way through start-up work: run no destructors
      }
      if (signal_ == 0) signal_ = sig;
      received_.SignalAll();
    }
  }

  static const char* SignalName(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

  // Constant after construction
  const sigset_t signals_;

  Mutex mu_;
  CondVar received_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  int signal_ ABSL_GUARDED_BY(mu_) = 0;  // first signal received while serving
};

// Counts the imagefeed RPCs in flight, so that a drain can end as soon as the
// last one does. Health and reflection calls are not counted: a health Watch
// lasts as long as its client. Thread-safe; owned by the grpc::Server, the
// count it shares with `AwaitIdle` callers by a shared_ptr.
class InFlightCalls : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  struct Count {
    Mutex mu;
    CondVar changed;
    int64_t calls ABSL_GUARDED_BY(mu) = 0;

    // Blocks until no call is in flight or `deadline`; true if none is.
    bool AwaitIdle(absl::Time deadline) {
      MutexLock lock(&mu);
      while (calls > 0) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return false;
        changed.WaitFor(&mu, absl::ToChronoMilliseconds(left) + std::chrono::milliseconds(1));
      }
      return true;
    }
  };

  explicit InFlightCalls(std::shared_ptr<Count> count) : count_(std::move(count)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    if (!absl::StartsWith(info->method(), "/imagefeed.")) return nullptr;
    return new Tracker(count_);
  }

 private:
  // Lives as long as its call (gRPC destroys it with the call's context).
  class Tracker : public grpc::experimental::Interceptor {
   public:
    explicit Tracker(std::shared_ptr<Count> count) : count_(std::move(count)) {
      MutexLock lock(&count_->mu);
      ++count_->calls;
    }
    ~Tracker() override {
      MutexLock lock(&count_->mu);
      if (--count_->calls == 0) count_->changed.SignalAll();
    }
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override { methods->Proceed(); }

   private:
    const std::shared_ptr<Count> count_;
  };

  const std::shared_ptr<Count> count_;
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
  std::map<std::string, std::string> label_fields;
  for (const std::string& spec : flags.label_fields) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--label_field: '", spec, "' is not NAME=FIELD"));
    }
    label_fields[spec.substr(0, eq)] = spec.substr(eq + 1);
  }
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
    DatasetOptions options;
    options.cache_dir = flags.cache_dir;
    options.allow_absolute_list_paths = flags.allow_absolute_list_paths;
    if (auto it = label_fields.find(name); it != label_fields.end()) options.label_field = it->second;
    auto index = DatasetIndex::Build(name, spec.substr(eq + 1), options);
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
  for (const auto& entry : label_fields) {
    if (!names.count(entry.first)) {
      return absl::InvalidArgumentError(absl::StrCat("--label_field: no dataset named '", entry.first, "'"));
    }
  }
  for (const auto& entry : *modes) {
    const std::string& name = entry.first;  // a named variable: C++17 lambdas cannot capture bindings
    const ColorMode mode = entry.second;
    auto it = std::find_if(out.begin(), out.end(), [&](const DatasetConfig& d) { return d.index->name() == name; });
    if (it == out.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--color_mode: no dataset named '", name, "'"));
    }
    it->color_mode = mode;
  }
  return out;
}

// Checks --listen: "unix:PATH" (or "unix-abstract:NAME"), or HOST:PORT with
// PORT a decimal in 0..65535 (HOST may be "[IPv6]").
absl::Status ValidateListen(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:") || absl::StartsWith(listen, "unix-abstract:")) return absl::OkStatus();
  const size_t colon = listen.rfind(':');
  const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  int value = -1;
  if (colon == std::string::npos || colon == 0 || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) || !absl::SimpleAtoi(port, &value) ||
      value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: '", listen, "' is not HOST:PORT with PORT in 0..65535",
                                                   port.empty() ? "" : absl::StrCat(" (port '", port, "')")));
  }
  return absl::OkStatus();
}

// Binds a plain TCP socket to `listen` the way gRPC does (SO_REUSEADDR, so
// only a listener, not a connection in TIME_WAIT, makes the port busy) and
// returns why it failed ("address in use ..."), or "" if it bound (or
// `listen` is a unix socket). gRPC's own error does not say why.
std::string ProbeListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (absl::StartsWith(listen, "unix") || colon == std::string::npos) return "";
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = listen.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc));
  }
  std::string reason;
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0) {
      reason = errno == EADDRINUSE ? "address in use (is another server running on this port?)"
                                   : absl::AsciiStrToLower(std::strerror(errno));
    }
    close(fd);
  }
  freeaddrinfo(found);
  return reason;
}

// One line per dataset, so an operator sees at once what was indexed and
// what was left out (a dataset of .webp files, a folder of symlinks).
void PrintDatasetSummary(const DatasetIndex& index) {
  const IgnoredEntries& ig = index.ignored();
  // Folder lines keep their old shape (scripts parse them); the other layouts say what they read.
  std::string source = index.root();
  if (index.format() == DatasetFormat::kTar) source = absl::StrCat(index.shards().size(), " tar shards ", source);
  if (index.format() == DatasetFormat::kList) source = absl::StrCat("file list ", source);
  std::string line = absl::StrCat("imagefeed-server: dataset '", index.name(), "': ", index.num_samples(),
                                  " samples in ", index.classes().size(), " classes from ", source,
                                  "; ignored: ", ig.hidden, " hidden, ", ig.not_images, " not images, ",
                                  ig.symlinks, " symlinks");
  if (ig.outside_classes > 0) absl::StrAppend(&line, ", ", ig.outside_classes, " files outside class folders");
  if (ig.special > 0) absl::StrAppend(&line, ", ", ig.special, " sockets, fifos or devices");
  std::cerr << line << "\n";
}

// "HOST:PORT" with the port replaced by the one actually bound; unix addresses as given.
std::string ListenAddress(const std::string& listen, int port) {
  if (absl::StartsWith(listen, "unix")) return listen;  // no port to fill in
  size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

// What the HTTP endpoint shows: the core's status and its recent batch.
HttpSources HttpSourcesFor(const ImageFeedCore* core) {
  HttpSources sources;
  sources.status = [core] {
    v1::ServerStatus status;
    core->GetServerStatus(v1::GetServerStatusRequest(), &status).IgnoreError();  // a partial status is still shown
    return status;
  };
  sources.contact_sheet_png = [core]() -> std::optional<std::string> {
    std::optional<BatchPreview> preview = core->RecentBatch();
    if (!preview) return std::nullopt;
    v1::Batch batch = preview->header;
    batch.set_data(preview->data.data(), preview->data.size());
    absl::StatusOr<std::string> png = ContactSheetPng(batch, preview->class_names);
    if (!png.ok()) return std::nullopt;
    return *std::move(png);
  };
  return sources;
}

int Run(int argc, char** argv) {
  ServerFlags f;
  FlagSet flags("imagefeed-server", "Serves image datasets as gRPC streams of decoded, normalized batches.");
  flags.AddString("listen", &f.listen, "HOST:PORT to listen on; port 0 picks a free port");
  flags.AddRepeated("dataset", &f.datasets,
                    "NAME=PATH: an ImageFolder directory, WebDataset tar shards ([tar:]DIR, FILE.tar or "
                    "train-{000..009}.tar) or list:FILE (CSV/TSV/JSONL of path,label); none = the built-in 'demo'");
  flags.AddRepeated("label_field", &f.label_fields,
                    "NAME=FIELD: the KEY.json field holding a tar dataset's label (default label, or cls)");
  flags.AddBool("allow_absolute_list_paths", &f.allow_absolute_list_paths,
                "let list:FILE datasets name absolute paths (default: only paths below the list's folder)");
  flags.AddInt("threads", &f.threads, "decode/transform worker threads; 0 = all cores", 0, 1024);
  flags.AddString("cache_dir", &f.cache_dir, "directory for the demo dataset and caches");
  flags.AddInt("max_batch_bytes", &f.max_batch_bytes, "largest batch tensor in bytes", 1, int64_t{2000} << 20);
  flags.AddInt("max_batch_size", &f.max_batch_size, "largest batch_size a request may ask for", 1, 1 << 20);
  flags.AddInt("max_side", &f.max_side, "largest requested height or width", 1, 1 << 16);
  flags.AddInt("max_pixels", &f.max_pixels, "largest image (width*height) decoded", 1, int64_t{1} << 40);
  flags.AddBool("jpeg_ycc_resize", &f.jpeg_ycc_resize,
                "resize 4:2:0/4:2:2 JPEGs from their YCbCr planes (faster; within 0.5 levels on average of "
                "resizing their RGB decode, which =false does)");
  flags.AddRepeated("color_mode", &f.color_modes, "NAME=rgb|grayscale: colour mode of a dataset (default rgb)");
  flags.AddInt("stats_sample", &f.stats_sample, "fit statistics on a seeded sample of N images; 0 = all", 0);
  flags.AddInt("stats_seed", &f.stats_seed, "seed of the --stats_sample sample", 0);
  flags.AddString("auth_token_file", &f.auth_token_file,
                  "require 'authorization: Bearer <token>' on every RPC except health (token read from this file)");
  flags.AddString("tls_cert", &f.tls_cert, "PEM certificate chain: serve TLS (with --tls_key)");
  flags.AddString("tls_key", &f.tls_key, "PEM private key of --tls_cert");
  flags.AddString("memory_budget", &f.memory_budget,
                  "memory for batch outputs and decode scratch, bytes or with suffix K/M/G/T (e.g. 2G); "
                  "empty = 50% of the cgroup memory limit, else of physical memory");
  flags.AddInt("max_streams", &f.max_streams, "concurrent streams admitted; 0 = derived from --memory_budget", 0,
               1 << 20);
  flags.AddInt("drain_seconds", &f.drain_seconds,
               "on SIGTERM/SIGINT, let running streams finish for up to this long, then cancel them", 0, 3600);
  flags.AddString("http_listen", &f.http_listen,
                  "HOST:PORT of an HTTP endpoint: /metrics (Prometheus), / (status page); port 0 picks a free "
                  "port; empty = none. With --auth_token_file it needs the same bearer token (/ and /healthz excepted)");
  absl::Status parsed = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (parsed.ok()) parsed = ValidateListen(f.listen);
  DefaultBudget budget;
  if (parsed.ok() && !f.memory_budget.empty()) {
    absl::StatusOr<int64_t> bytes = ParseByteSize(f.memory_budget);
    if (bytes.ok()) {
      budget = {*bytes, "set by --memory_budget"};
    } else {
      parsed = absl::InvalidArgumentError(absl::StrCat("--memory_budget: ", bytes.status().message()));
    }
  } else if (parsed.ok()) {
    budget = DefaultMemoryBudget("/sys/fs/cgroup", PhysicalMemoryBytes());
  }
  if (!parsed.ok()) {
    std::cerr << "imagefeed-server: " << parsed.message() << "\n";
    return 2;
  }
  // Fail before indexing (which can take minutes) if another server holds the port.
  if (const std::string busy = ProbeListen(f.listen); absl::StartsWith(busy, "address in use")) {
    std::cerr << "imagefeed-server: cannot listen on " << f.listen << ": " << busy << "\n";
    return 1;
  }

  // Block the shutdown signals in every thread (before any is started, so
  // they inherit the mask); only the ShutdownSignals thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ShutdownSignals shutdown_signals(signals);
  // Printed once signals are handled: from here on SIGTERM exits 0.
  std::cerr << "imagefeed-server: memory budget " << FormatByteSize(budget.bytes) << " (" << budget.bytes
            << " bytes, " << budget.source << "); max streams: "
            << (f.max_streams > 0 ? absl::StrCat(f.max_streams) : "derived from the budget") << std::endl;
  // Every block of 1 MiB or more (batch buffers, decode scratch) gets its own
  // mapping, given back to the system when freed. Kept in glibc's heaps, the
  // buffers freed and reallocated on other threads fragmented the per-thread
  // arenas: a float32 stream peaked at 2.4x the memory it had accounted
  // (bench/speed_bench.py's "unaccounted" column). Batch buffers are pooled
  // (BufferPool) and scratch is kept per worker, so nothing is mapped per batch.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);

  auto datasets = LoadDatasets(f);
  if (!datasets.ok()) {
    std::cerr << "imagefeed-server: " << datasets.status().message() << "\n";
    return 1;
  }
  for (const DatasetConfig& d : *datasets) PrintDatasetSummary(*d.index);
  ServerLimits limits;
  limits.max_batch_bytes = f.max_batch_bytes;
  limits.max_batch_size = f.max_batch_size;
  limits.max_side = f.max_side;
  limits.max_pixels = f.max_pixels;
  limits.jpeg_ycc_resize = f.jpeg_ycc_resize;
  limits.threads = f.threads > 0 ? static_cast<int>(f.threads)
                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  limits.memory_budget = budget.bytes;
  limits.max_streams = f.max_streams;
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
  // Shared-memory rings of a server killed before its client mapped them
  // (the local transport unlinks names as soon as they are mapped).
  if (int swept = SweepStaleSegments(); swept > 0) {
    std::cerr << "imagefeed-server: removed " << swept << " stale /dev/shm/imagefeed-* segment(s) of dead servers\n";
  }
  ImageFeedCore core(*std::move(datasets), limits, stats);
  ImageFeedService service(&core, auth);

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection would be an unauthenticated service: only without a token.
  if (!auth.enabled()) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(f.listen, *credentials, &port);
  // gRPC sets SO_REUSEPORT by default: a second server on the same port would
  // start and silently take half of the new connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive both ways: the server pings every 20 s and drops a client
  // that does not answer within 10 s (a vanished trainer frees its stream),
  // and it accepts clients' pings as often as every 5 s, also between calls,
  // so clients detect a stopped or partitioned server (see README "Failover")
  // instead of waiting on an open stream forever.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 4000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  auto in_flight = std::make_shared<InFlightCalls::Count>();
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<InFlightCalls>(in_flight));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(&service);
  // Header fields and framing ride on top of the tensor bytes.
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<int64_t>(f.max_batch_bytes + (16 << 20), INT32_MAX)));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::string reason = ProbeListen(f.listen);
    if (reason.empty()) reason = "address in use or not available";
    std::cerr << "imagefeed-server: cannot listen on " << f.listen << ": " << reason << "\n";
    return 1;
  }
  // Declared after `core`: destroyed (stopped) before it.
  std::unique_ptr<HttpServer> http;
  if (!f.http_listen.empty()) {
    TokenCheck check;
    if (auth.enabled()) check = [&auth](absl::string_view value) { return auth.CheckAuthorization(value); };
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(f.http_listen, HttpSourcesFor(&core), check);
    if (!started.ok()) {
      std::cerr << "imagefeed-server: " << started.status().message() << "\n";
      return 1;
    }
    http = *std::move(started);
    if (!auth.enabled() && !IsLoopback(f.http_listen)) {
      std::cerr << "imagefeed-server: warning: HTTP on " << f.http_listen
                << " without --auth_token_file: anyone who can reach it sees the status and sample images\n";
    }
    // Before the ready line on stdout, so a reader that waits for that line finds this one too.
    std::cerr << "imagefeed-server http on " << ListenAddress(f.http_listen, http->port()) << std::endl;
  }
  server->GetHealthCheckService()->SetServingStatus(v1::ImageFeed::service_full_name(), true);
  shutdown_signals.MarkServing();
  std::cout << "imagefeed-server listening on " << ListenAddress(f.listen, port) << std::endl;

  const int sig = shutdown_signals.Wait();
  const absl::Time deadline = absl::Now() + absl::Seconds(f.drain_seconds);
  std::cerr << "imagefeed-server: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", draining for up to "
            << f.drain_seconds << " s\n";
  // Lame duck: health answers NOT_SERVING (probes and balancers steer new
  // work elsewhere) while the running calls finish. Then Shutdown() stops
  // listening and cancels whatever still runs at the deadline.
  server->GetHealthCheckService()->SetServingStatus(false);
  const bool idle = in_flight->AwaitIdle(deadline);
  if (!idle) std::cerr << "imagefeed-server: drain deadline reached, cancelling the running streams\n";
  server->Shutdown(absl::ToChronoTime(deadline));
  server->Wait();
  // Every call has ended: exit now. Destroying the last gRPC objects runs
  // grpc_shutdown, which waits up to 10 s for peers that keep their
  // connections open (measured: a cancelled client stalled the exit 10 s);
  // the kernel closes them when the process ends.
  ExitProcess(0);
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) { imagefeed::ExitProcess(imagefeed::Run(argc, argv)); }
