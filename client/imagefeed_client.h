#ifndef IMAGEFEED_CLIENT_IMAGEFEED_CLIENT_H_
#define IMAGEFEED_CLIENT_IMAGEFEED_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.grpc.pb.h"

namespace imagefeed {

struct ClientOptions {
  // Largest message accepted; batches above gRPC's 4 MB default are normal.
  int max_receive_bytes = 1 << 30;
  // Deadline for unary calls.
  int unary_timeout_seconds = 30;
  // Sent as `authorization: Bearer <token>` on every call when not empty.
  std::string token;
  // TLS: verify the server against `tls_ca_pem` (PEM), or the system roots
  // when it is empty.
  bool tls = false;
  std::string tls_ca_pem;
  // Channel keepalive: a ping every `keepalive_time_ms` (also without calls;
  // the server accepts one every >= 4 s), and a connection whose ping is not
  // answered within `keepalive_timeout_ms` fails its calls with UNAVAILABLE,
  // so a stopped or partitioned server does not hang a stream. 0 = gRPC's
  // default (no keepalive pings).
  int keepalive_time_ms = 10000;
  int keepalive_timeout_ms = 10000;
};

// Reads one StreamBatches call. Thread-compatible.
class BatchReader {
 public:
  BatchReader(std::unique_ptr<grpc::ClientContext> context, std::unique_ptr<grpc::ClientReader<v1::Batch>> reader,
              std::string target);
  // Reads the next batch; false at the end of the stream or on error (then see Finish()).
  bool Next(v1::Batch* batch);
  // The stream's final status, with the server address in error messages.
  // Call once after Next() returned false, or after Cancel().
  absl::Status Finish();
  // Cancels the call; the server stops producing this stream's batches.
  void Cancel();

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::Batch>> reader_;
  std::string target_;
};

// A connection to one imagefeed server. Thread-safe.
class ImageFeedClient {
 public:
  // Creates a channel to `target` ("host:port"); connects lazily.
  explicit ImageFeedClient(const std::string& target, const ClientOptions& options = {});

  const std::string& target() const { return target_; }

  // UNAVAILABLE (naming the address) if the server cannot be reached.
  absl::StatusOr<v1::ListDatasetsResponse> ListDatasets();

  // Validates `request` as StreamBatches would (same errors) and describes
  // the stream (length, fingerprints). UNIMPLEMENTED from an older server.
  // `timeout_ms` > 0 shortens the unary deadline (a stopped server must not
  // hold up a fan-in's start for long).
  absl::StatusOr<v1::StreamDescription> DescribeStream(const v1::StreamBatchesRequest& request, int64_t timeout_ms = 0);

  // Starts streaming the batches `request` asks for.
  std::unique_ptr<BatchReader> StreamBatches(const v1::StreamBatchesRequest& request);

  // The statistics the server fitted for `dataset`, or its progress while
  // fitting (state FITTING). NOT_FOUND for an unknown dataset; UNIMPLEMENTED
  // from a server that predates GetStats.
  absl::StatusOr<v1::DatasetStats> GetStats(const std::string& dataset);

  // What the server is doing now: streams, stage totals, memory, queue
  // depth, statistics fitting. UNIMPLEMENTED from a server that predates it.
  absl::StatusOr<v1::ServerStatus> GetServerStatus();

  // Asks gRPC's standard health service (grpc.health.v1.Health/Check) about
  // `service` ("" = the whole server). True if it answers SERVING; false for
  // any other status it reports; an error if the call fails.
  absl::StatusOr<bool> CheckHealth(const std::string& service = "");

 private:
  const std::string target_;
  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ImageFeed::Stub> stub_;

  // Adds the per-call metadata (token) and deadline to `context`.
  void Prepare(grpc::ClientContext* context, bool unary) const;
};

// Converts a gRPC status into an absl::Status; UNAVAILABLE errors name `target`.
absl::Status FromGrpcStatus(const grpc::Status& status, const std::string& target);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_IMAGEFEED_CLIENT_H_
