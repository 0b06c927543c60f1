#ifndef IMAGEFEED_SERVER_SERVICE_GRPC_STATUS_H_
#define IMAGEFEED_SERVER_SERVICE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace imagefeed {

// The one place absl::Status becomes grpc::Status (codes share numbering).
inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_GRPC_STATUS_H_
