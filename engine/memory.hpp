// The memory tensors keep their numbers in.
//
// A training loop allocates the same large tensors at every step: activations, their
// gradients, the scratch of a convolution. Fresh large blocks come from the system as
// untouched pages, and touching each page for the first time costs a page fault — on a
// virtual machine, as much as computing on the page. So a large block (64 KiB or more) is
// not given back when its tensor goes: it is kept, up to a total of cache_limit() bytes,
// and handed to the next tensor that asks for a block of its size class. Small blocks come
// from the ordinary allocator, which recycles them well by itself.
//
// Built with AddressSanitizer, nothing is cached, so that every use after free is caught.
#pragma once

#include <cstddef>
#include <memory>

namespace gradlab {

// At least `bytes` bytes (≥ 1), uninitialised, aligned to 64 bytes if large and to 16 if
// small; freed or cached when the last shared_ptr to it goes.
std::shared_ptr<void> allocate_storage(std::size_t bytes);

// How many bytes freed blocks may hold in all (default 512 MiB); setting it lower releases
// cached blocks down to the new limit, 0 turns the cache off.
void set_cache_limit(std::size_t bytes);
std::size_t cache_limit();
std::size_t cached_bytes();  // what the cache holds now

}  // namespace gradlab
