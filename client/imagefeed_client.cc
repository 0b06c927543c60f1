#include "client/imagefeed_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"

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

std::unique_ptr<BatchReader> ImageFeedClient::StreamBatches(const v1::StreamBatchesRequest& request) {
  auto context = std::make_unique<grpc::ClientContext>();
  Prepare(context.get(), /*unary=*/false);
  auto reader = stub_->StreamBatches(context.get(), request);
  return std::make_unique<BatchReader>(std::move(context), std::move(reader), target_);
}

void ImageFeedClient::Prepare(grpc::ClientContext* context, bool unary) const {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  if (unary) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(options_.unary_timeout_seconds));
  }
}

}  // namespace imagefeed
