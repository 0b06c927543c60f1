#ifndef IMAGEFEED_SERVER_SERVICE_TOKEN_AUTH_H_
#define IMAGEFEED_SERVER_SERVICE_TOKEN_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace imagefeed {

// Bearer-token authentication: every imagefeed RPC must carry metadata
// `authorization: Bearer <token>`. (gRPC's health service is registered
// separately and stays open, so orchestrators can probe it.) Immutable, so
// thread-safe.
class TokenAuth {
 public:
  // No authentication: every call is allowed.
  TokenAuth() = default;

  // Reads the token from `path` (surrounding whitespace removed).
  // INVALID_ARGUMENT if the file is empty; the read error otherwise.
  static absl::StatusOr<TokenAuth> FromFile(const std::string& path);
  // For tests. If the token cannot be hashed, the result is enabled and
  // refuses every call.
  static TokenAuth FromToken(const std::string& token);

  bool enabled() const { return enabled_; }

  // OK if the call carries the token; UNAUTHENTICATED otherwise. The
  // comparison takes the same time whatever the presented token is (both
  // sides are hashed, then compared with CRYPTO_memcmp).
  // Fails closed: a malformed header, an empty token or any hashing error
  // refuses the call.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

  // The same check on the value of an HTTP Authorization header ("" if the
  // request has none): the HTTP endpoint's token rule.
  absl::Status CheckAuthorization(absl::string_view value) const;

  // The comparison step of Check, on its own for tests: OK only if both
  // digests are SHA-256-sized and equal (in constant time); UNAUTHENTICATED
  // otherwise, including when either is empty or of another length.
  static absl::Status CompareDigests(absl::string_view presented, absl::string_view expected);

 private:
  bool enabled_ = false;
  std::string token_digest_;  // SHA-256 of the token; empty if hashing failed (refuses all)
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_TOKEN_AUTH_H_
