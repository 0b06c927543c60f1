// imagefeed_bench: throughput of each stage on one dataset, as ratios against
// a single-threaded decode baseline measured in the same run.
//
//   build/bin/imagefeed_bench --dataset=/tmp/photos/train [--threads=2] [--batch_size=64] [--size=224]
//
// Stages (files are read once first, so every stage reads from the page cache):
//   decode_1t        read + decode every image, one thread (the baseline)
//   transform_1t     read + decode + resize to SIZExSIZE + rescale, one thread
//   fit_stats        the server's statistics fitter on a pool of --threads
//   epoch_grpc       one epoch streamed through a real gRPC server on 127.0.0.1 to the C++ client
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "client/imagefeed_client.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "server/dataset/dataset_index.h"
#include "server/decode/image_decoder.h"
#include "server/pipeline/sample_processor.h"
#include "server/service/imagefeed_core.h"
#include "server/service/imagefeed_service.h"
#include "server/stats/stats_fitter.h"

namespace imagefeed {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct Stage {
  std::string name;
  int threads;
  int64_t images;
  double seconds;
  double bytes = 0;
  double images_per_second() const { return images / seconds; }
};

Stage DecodeStage(const DatasetIndex& d, int64_t n, bool transform) {
  std::vector<uint8_t> bytes;
  Image image;
  FloatImage resized;
  SampleTransform t;
  t.out_height = t.out_width = 224;
  std::vector<uint8_t> slot(t.SampleBytes(224, 224));
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    if (!ReadFileToBuffer(d.SamplePath(i), &bytes).ok()) continue;
    if (transform) {
      if (DecodeAndResize(bytes, t, i, &resized).ok()) WriteSample(resized, t, slot.data());
    } else {
      DecodeImage(absl::MakeConstSpan(bytes), DecodeOptions{}, &image).IgnoreError();
    }
  }
  return {transform ? "transform_1t" : "decode_1t", 1, n, Seconds(start)};
}

Stage FitStage(std::shared_ptr<const DatasetIndex> d, int threads) {
  Scheduler pool(threads);
  auto start = std::chrono::steady_clock::now();
  auto fitter = StatsFitter::Start(d, FitOptions{}, &pool);
  absl::Notification done;
  fitter->WhenReady([&](const absl::StatusOr<v1::DatasetStats>&) { done.Notify(); });
  done.WaitForNotification();
  return {"fit_stats", threads, d->num_samples(), Seconds(start)};
}

Stage EpochStage(std::shared_ptr<const DatasetIndex> d, int threads, int batch_size, int size, double* first_batch) {
  ServerLimits limits;
  limits.threads = threads;
  ImageFeedCore core({{d, ColorMode::kRgb}}, limits);
  ImageFeedService service(&core);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxSendMessageSize(static_cast<int>(limits.max_batch_bytes + (16 << 20)));
  auto server = builder.BuildAndStart();
  ImageFeedClient client(absl::StrFormat("127.0.0.1:%d", port));
  v1::StreamBatchesRequest r;
  r.set_dataset(d->name());
  r.set_batch_size(batch_size);
  r.set_height(size);
  r.set_width(size);
  r.set_shuffle(true);
  auto start = std::chrono::steady_clock::now();
  auto reader = client.StreamBatches(r);
  v1::Batch b;
  Stage s{"epoch_grpc", threads, 0, 0};
  while (reader->Next(&b)) {
    if (s.images == 0) *first_batch = Seconds(start);
    s.images += b.sample_ids_size();
    s.bytes += static_cast<double>(b.data().size());
  }
  s.seconds = Seconds(start);
  absl::Status status = reader->Finish();
  if (!status.ok()) std::fprintf(stderr, "epoch failed: %s\n", status.ToString().c_str());
  server->Shutdown();
  return s;
}

int Run(int argc, char** argv) {
  std::string dataset;
  int64_t threads = 2, batch_size = 64, size = 224, max_images = 0;
  bool json = false;
  FlagSet flags("imagefeed_bench", "Measures each stage's throughput against a one-thread decode baseline.");
  flags.AddString("dataset", &dataset, "ImageFolder root to measure on");
  flags.AddInt("threads", &threads, "server pool threads", 1, 256);
  flags.AddInt("batch_size", &batch_size, "batch size of the epoch stage", 1, 4096);
  flags.AddInt("size", &size, "output side of the transform and epoch stages", 1, 4096);
  flags.AddInt("max_images", &max_images, "use only the first N images of the baselines (0 = all)", 0);
  flags.AddBool("json", &json, "print JSON");
  absl::Status parsed = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (flags.help_requested() || !parsed.ok() || dataset.empty()) {
    std::fprintf(stderr, "%s%s\n", parsed.ok() ? "" : (std::string(parsed.message()) + "\n").c_str(),
                 flags.Usage().c_str());
    return flags.help_requested() ? 0 : 2;
  }
  auto index = DatasetIndex::Build("bench", dataset);
  if (!index.ok()) {
    std::fprintf(stderr, "%s\n", index.status().ToString().c_str());
    return 1;
  }
  const int64_t n = max_images > 0 ? std::min(max_images, (*index)->num_samples()) : (*index)->num_samples();
  std::vector<uint8_t> warm;
  for (int64_t i = 0; i < (*index)->num_samples(); ++i) ReadFileToBuffer((*index)->SamplePath(i), &warm).IgnoreError();

  double first_batch = 0;
  std::vector<Stage> stages = {DecodeStage(**index, n, false), DecodeStage(**index, n, true),
                               FitStage(*index, static_cast<int>(threads)),
                               EpochStage(*index, static_cast<int>(threads), static_cast<int>(batch_size),
                                          static_cast<int>(size), &first_batch)};
  const double base = stages[0].images_per_second();
  if (json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("images");
    j.Int((*index)->num_samples());
    j.Key("time_to_first_batch_seconds");
    j.Double(first_batch);
    for (const Stage& s : stages) {
      j.Key(s.name);
      j.BeginObject();
      j.Key("threads");
      j.Int(s.threads);
      j.Key("images_per_second");
      j.Double(s.images_per_second());
      j.Key("per_thread_vs_decode_1t");
      j.Double(s.images_per_second() / s.threads / base);
      j.EndObject();
    }
    j.EndObject();
    std::printf("%s\n", j.str().c_str());
    return 0;
  }
  std::printf("%-14s %7s %8s %10s %12s %18s\n", "stage", "threads", "images", "images/s", "MB/s", "per-thread ratio");
  for (const Stage& s : stages) {
    std::printf("%-14s %7d %8lld %10.1f %12s %18.2f\n", s.name.c_str(), s.threads, static_cast<long long>(s.images),
                s.images_per_second(), s.bytes > 0 ? absl::StrFormat("%.1f", s.bytes / s.seconds / 1e6).c_str() : "-",
                s.images_per_second() / s.threads / base);
  }
  std::printf("time to first batch: %.3f s\n", first_batch);
  return 0;
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) { return imagefeed::Run(argc, argv); }
