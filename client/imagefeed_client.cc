#include "client/imagefeed_client.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace imagefeed {

absl::Status FromGrpcStatus(const grpc::Status& status, const std::string& target) {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
    return absl::Status(code, absl::StrCat("cannot reach imagefeed server at ", target, ": ", status.error_message()));
  }
  return absl::Status(code, status.error_message());
}

BatchReader::BatchReader(std::unique_ptr<grpc::ClientContext> context,
                         std::unique_ptr<grpc::ClientReader<v1::Batch>> reader, std::string target)
    : context_(std::move(context)), reader_(std::move(reader)), target_(std::move(target)) {}

bool BatchReader::Next(v1::Batch* batch) { return reader_->Read(batch); }

absl::Status BatchReader::Finish() { return FromGrpcStatus(reader_->Finish(), target_); }

void BatchReader::Cancel() { context_->TryCancel(); }

ImageFeedClient::ImageFeedClient(const std::string& target, const ClientOptions& options)
    : target_(target), options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_bytes);
  if (options.keepalive_time_ms > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // Pings while a stream waits for its first batch (statistics fitting)
    // carry no data; without this gRPC stops pinging after two of them.
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_ca_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  channel_ = grpc::CreateCustomChannel(target, credentials, args);
  stub_ = v1::ImageFeed::NewStub(channel_);
}

absl::StatusOr<v1::ListDatasetsResponse> ImageFeedClient::ListDatasets() {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/true);
  v1::ListDatasetsResponse response;
  grpc::Status s = stub_->ListDatasets(&context, v1::ListDatasetsRequest(), &response);
  if (!s.ok()) return FromGrpcStatus(s, target_);
  return response;
}

absl::StatusOr<v1::DatasetStats> ImageFeedClient::GetStats(const std::string& dataset) {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/true);
  v1::GetStatsRequest request;
  request.set_dataset(dataset);
  v1::DatasetStats response;
  grpc::Status s = stub_->GetStats(&context, request, &response);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return absl::UnimplementedError(absl::StrCat("the server at ", target_,
                                                 " does not implement GetStats (an older imagefeed-server?)",
                                                 s.error_message().empty() ? "" : ": ", s.error_message()));
  }
  if (!s.ok()) return FromGrpcStatus(s, target_);
  return response;
}

absl::StatusOr<v1::ServerStatus> ImageFeedClient::GetServerStatus() {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/true);
  v1::ServerStatus response;
  grpc::Status s = stub_->GetServerStatus(&context, v1::GetServerStatusRequest(), &response);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return absl::UnimplementedError(absl::StrCat("the server at ", target_,
                                                 " does not implement GetServerStatus (an older imagefeed-server?)",
                                                 s.error_message().empty() ? "" : ": ", s.error_message()));
  }
  if (!s.ok()) return FromGrpcStatus(s, target_);
  return response;
}

absl::StatusOr<v1::StreamDescription> ImageFeedClient::DescribeStream(const v1::StreamBatchesRequest& request,
                                                                      int64_t timeout_ms) {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/true);
  if (timeout_ms > 0 && timeout_ms < int64_t{options_.unary_timeout_seconds} * 1000) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
  v1::StreamDescription response;
  grpc::Status s = stub_->DescribeStream(&context, request, &response);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return absl::UnimplementedError(absl::StrCat("the server at ", target_,
                                                 " does not implement DescribeStream (an older imagefeed-server?)"));
  }
  if (!s.ok()) return FromGrpcStatus(s, target_);
  return response;
}

std::unique_ptr<BatchReader> ImageFeedClient::StreamBatches(const v1::StreamBatchesRequest& request) {
  auto context = std::make_unique<grpc::ClientContext>();
  Prepare(context.get(), /*unary=*/false);
  auto reader = stub_->StreamBatches(context.get(), request);
  return std::make_unique<BatchReader>(std::move(context), std::move(reader), target_);
}

absl::StatusOr<bool> ImageFeedClient::CheckHealth(const std::string& service) {
  // The health protos are not installed for C++ by Debian's gRPC: the two
  // messages are encoded by hand (HealthCheckRequest{1: service},
  // HealthCheckResponse{1: status}, SERVING = 1).
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back(0x0A);
    google::protobuf::io::StringOutputStream raw(&request_bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.WriteVarint32(static_cast<uint32_t>(service.size()));
    out.WriteString(service);
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/true);
  grpc::GenericStub generic(channel_);
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  if (!status.ok()) return FromGrpcStatus(status, target_);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("unreadable health response");
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  uint32_t value = 0;
  while (uint32_t tag = in.ReadTag()) {
    if (tag == 0x08) {
      if (!in.ReadVarint32(&value)) break;
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      break;
    }
  }
  return value == 1;
}

void ImageFeedClient::Prepare(grpc::ClientContext* context, bool unary) const {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  if (unary) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(options_.unary_timeout_seconds));
  }
}

}  // namespace imagefeed
