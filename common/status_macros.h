#ifndef IMAGEFEED_COMMON_STATUS_MACROS_H_
#define IMAGEFEED_COMMON_STATUS_MACROS_H_

// Early-return helpers for absl::Status / absl::StatusOr (Abseil 20220623 ships none).

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define IMAGEFEED_CONCAT_INNER_(a, b) a##b
#define IMAGEFEED_CONCAT_(a, b) IMAGEFEED_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status imagefeed_status_ = (expr);         \
    if (!imagefeed_status_.ok()) return imagefeed_status_; \
  } while (0)

// `lhs = value of rexpr` (an absl::StatusOr<T>), or returns its error.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(IMAGEFEED_CONCAT_(imagefeed_statusor_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                           \
  if (!tmp.ok()) return tmp.status();           \
  lhs = std::move(tmp).value()

namespace imagefeed {

// Returns `status` with `context: ` prepended to its message (same code).
inline absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_STATUS_MACROS_H_
