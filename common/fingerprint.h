#ifndef IMAGEFEED_COMMON_FINGERPRINT_H_
#define IMAGEFEED_COMMON_FINGERPRINT_H_

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace imagefeed {

// A SHA-256 over a sequence of strings, each followed by a NUL so that
// ("ab","c") and ("a","bc") differ: the cache keys of fitted statistics and
// tar indexes. Thread-compatible.
class Fingerprint {
 public:
  Fingerprint();
  void Add(absl::string_view part);
  // Lowercase hex of the digest; call once, last.
  std::string Hex();

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_FINGERPRINT_H_
