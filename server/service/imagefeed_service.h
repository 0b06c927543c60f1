#ifndef IMAGEFEED_SERVER_SERVICE_IMAGEFEED_SERVICE_H_
#define IMAGEFEED_SERVER_SERVICE_IMAGEFEED_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "imagefeed/v1/imagefeed.grpc.pb.h"
#include "server/service/imagefeed_core.h"
#include "server/service/token_auth.h"

namespace imagefeed {

using ImageFeedServiceBase = v1::ImageFeed::WithCallbackMethod_ListDatasets<
    v1::ImageFeed::WithCallbackMethod_GetStats<v1::ImageFeed::WithCallbackMethod_GetServerStatus<
        v1::ImageFeed::WithCallbackMethod_DescribeStream<
            v1::ImageFeed::WithRawCallbackMethod_StreamBatches<
                v1::ImageFeed::WithCallbackMethod_StreamBatchesLocal<v1::ImageFeed::Service>>>>>>;

// The gRPC adapter over ImageFeedCore (callback API). StreamBatches is a raw
// method so batches go out as zero-copy ByteBuffers (see batch_wire.h).
// Every call is checked against `auth` first. Thread-safe. `core` must
// outlive the service.
class ImageFeedService final : public ImageFeedServiceBase {
 public:
  explicit ImageFeedService(ImageFeedCore* core, TokenAuth auth = {}) : core_(core), auth_(std::move(auth)) {}

  grpc::ServerUnaryReactor* ListDatasets(grpc::CallbackServerContext* context, const v1::ListDatasetsRequest* request,
                                         v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context, const v1::GetStatsRequest* request,
                                     v1::DatasetStats* response) override;
  grpc::ServerUnaryReactor* GetServerStatus(grpc::CallbackServerContext* context,
                                            const v1::GetServerStatusRequest* request,
                                            v1::ServerStatus* response) override;
  grpc::ServerUnaryReactor* DescribeStream(grpc::CallbackServerContext* context,
                                           const v1::StreamBatchesRequest* request,
                                           v1::StreamDescription* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamBatches(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* request) override;
  // The local transport (shared memory), see imagefeed.proto.
  grpc::ServerBidiReactor<v1::LocalClientMessage, v1::LocalServerMessage>* StreamBatchesLocal(
      grpc::CallbackServerContext* context) override;

 private:
  ImageFeedCore* const core_;
  const TokenAuth auth_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_IMAGEFEED_SERVICE_H_
