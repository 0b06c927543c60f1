#ifndef IMAGEFEED_COMMON_SCRATCH_BUFFER_H_
#define IMAGEFEED_COMMON_SCRATCH_BUFFER_H_

// Helpers for the per-thread scratch vectors of decode, resize and the
// sample processor: their capacity is what memory accounting must bound, so
// they grow to exactly the size asked for and can be released on demand.

#include <cstddef>
#include <vector>

namespace imagefeed {

// Resizes `v` to `n` elements for a caller that overwrites them all. Unlike
// std::vector::resize, growth allocates exactly `n` (not up to 2n) and frees
// the old buffer first, without copying it, so the peak is `n` elements.
template <typename T>
void ResizeForOverwrite(std::vector<T>* v, size_t n) {
  if (n > v->capacity()) std::vector<T>().swap(*v);
  if (v->empty()) v->reserve(n);
  v->resize(n);
}

// Heap bytes held by `v`.
template <typename T>
size_t CapacityBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

// Frees `v`'s buffer if it holds more than `keep_bytes`.
template <typename T>
void ReleaseIfLarger(std::vector<T>* v, size_t keep_bytes) {
  if (CapacityBytes(*v) > keep_bytes) std::vector<T>().swap(*v);
}

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_SCRATCH_BUFFER_H_
