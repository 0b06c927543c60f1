#ifndef IMAGEFEED_CLIENT_TARGET_RESOLVER_H_
#define IMAGEFEED_CLIENT_TARGET_RESOLVER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace imagefeed {

// Looks up the addresses (numeric IPv4/IPv6 text) of a host name.
using HostResolver = std::function<absl::StatusOr<std::vector<std::string>>(const std::string& host)>;

// getaddrinfo: every A and AAAA address of `host`. UNAVAILABLE naming the
// host if it does not resolve.
absl::StatusOr<std::vector<std::string>> ResolveHostSystem(const std::string& host);

// True for "dns:///NAME:PORT", "dns://AUTHORITY/NAME:PORT" and "dns:NAME:PORT".
bool IsDnsTarget(absl::string_view target);

// Expands `targets` into one "HOST:PORT" per server: a DNS target becomes
// one entry per address of its name (sorted, IPv6 in brackets), other
// targets stay as given; duplicates are dropped (the first one is kept).
// INVALID_ARGUMENT for a DNS target without NAME:PORT; the resolver's error
// (naming the target) if a name does not resolve.
absl::StatusOr<std::vector<std::string>> ResolveTargets(const std::vector<std::string>& targets,
                                                        const HostResolver& resolve = ResolveHostSystem);

// Splits a --server value "a:1,b:2" into its targets (empty parts dropped).
std::vector<std::string> SplitTargets(absl::string_view list);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_TARGET_RESOLVER_H_
