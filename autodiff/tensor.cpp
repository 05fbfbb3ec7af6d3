#include "autodiff/tensor.hpp"

#include <algorithm>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <unordered_map>

namespace ad {

namespace {

// Per-thread cache of freed buffers keyed by exact size. Bounded, so a burst of large tensors
// does not pin memory: beyond kMaxCachedBytes freed buffers go back to the system.
constexpr size_t kMaxCachedBytes = size_t(512) << 20;

struct Pool {
    std::unordered_map<size_t, std::vector<double*>> free_lists;
    size_t cached_bytes = 0;

    double* take(size_t n) {
        auto it = free_lists.find(n);
        if (it != free_lists.end() && !it->second.empty()) {
            double* p = it->second.back();
            it->second.pop_back();
            cached_bytes -= n * sizeof(double);
            return p;
        }
        // 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment.
        size_t bytes = std::max<size_t>(64, (n * sizeof(double) + 63) / 64 * 64);
        void* p = std::aligned_alloc(64, bytes);
        AD_CHECK(p != nullptr, "tensor: out of memory allocating " << n << " doubles");
        return static_cast<double*>(p);
    }
    void give(double* p, size_t n) {
        if (cached_bytes + n * sizeof(double) > kMaxCachedBytes) {
            std::free(p);
            return;
        }
        free_lists[n].push_back(p);
        cached_bytes += n * sizeof(double);
    }
    void release() {
        for (auto& kv : free_lists)
            for (double* p : kv.second) std::free(p);
        free_lists.clear();
        cached_bytes = 0;
    }
};

// glibc gives blocks above M_MMAP_THRESHOLD their own mapping (unmapped again on free) and returns
// the top of the heap to the system once more than M_TRIM_THRESHOLD bytes are free there (both
// adjusted dynamically to a few MiB). Per-structure scratch that is not pooled (SOAP Jacobians,
// ~3 MiB per 32-atom Cu cell) is then re-faulted at every batch, at ~15 us per 4 KiB page on this
// VM (SOAP Jacobians of Cu batches ran 6x slower). So: blocks up to 32 MiB (glibc's maximum)
// come from the heap, and up to 256 MiB of free heap is kept for reuse.
const bool g_keep_heap = [] {
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
}();

// Deliberately leaked: buffers owned by static tensors may be freed after thread-local
// destructors would have run.
Pool& pool() {
    thread_local Pool* p = new Pool();
    return *p;
}

}  // namespace

Buffer::Buffer(size_t n) : data(pool().take(n)), size(n) {}
Buffer::~Buffer() { pool().give(data, size); }

void release_buffer_pool() { pool().release(); }

Tensor Tensor::empty(const Shape& shape) {
    for (long d : shape) AD_CHECK(d >= 0, "tensor: expected non-negative sizes, got " << shape);
    auto impl = std::make_shared<TensorImpl>();
    impl->shape = shape;
    impl->buffer = std::make_shared<Buffer>(static_cast<size_t>(ad::numel(shape)));
    impl->data = impl->buffer->data;
    return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.0); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0); }

Tensor Tensor::full(const Shape& shape, double value) {
    Tensor t = empty(shape);
    std::fill(t.data(), t.data() + t.numel(), value);
    return t;
}

Tensor Tensor::scalar(double value) { return full({}, value); }

Tensor Tensor::view_of(const Tensor& src, const Shape& shape) {
    AD_CHECK(ad::numel(shape) == src.numel(),
             "view: expected " << src.numel() << " elements, got shape " << shape);
    auto impl = std::make_shared<TensorImpl>();
    impl->shape = shape;
    impl->buffer = src.impl().buffer;
    impl->data = src.impl().data;
    return Tensor(std::move(impl));
}

long Tensor::dim(long axis) const { return shape()[normalize_axis(axis, ndim(), "dim")]; }

double Tensor::item() const {
    AD_CHECK(numel() == 1, "item: expected a tensor with one element, got shape " << shape());
    return data()[0];
}

std::vector<double> Tensor::to_vector() const { return std::vector<double>(data(), data() + numel()); }

Tensor& Tensor::set_requires_grad(bool on) {
    AD_CHECK(is_leaf() || on, "set_requires_grad: expected a leaf tensor; use detach() on op outputs");
    impl().requires_grad = on;
    return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
    if (g.defined())
        AD_CHECK(g.shape() == shape(), "set_grad: expected shape " << shape() << ", got " << g.shape());
    impl().grad = g.impl_ptr();
}

void Tensor::zero_grad() { impl().grad.reset(); }

Tensor Tensor::detach() const { return view_of(*this, shape()); }

Tensor Tensor::clone() const {
    Tensor t = empty(shape());
    std::memcpy(t.data(), data(), sizeof(double) * static_cast<size_t>(numel()));
    return t;
}

Tensor tensor(const Shape& shape, const std::vector<double>& values) {
    AD_CHECK(static_cast<long>(values.size()) == ad::numel(shape),
             "tensor: expected " << ad::numel(shape) << " values for shape " << shape << ", got "
                                 << values.size());
    Tensor t = Tensor::empty(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

Tensor tensor(const std::vector<double>& values) {
    return tensor({static_cast<long>(values.size())}, values);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
    if (!t.defined()) return os << "Tensor(undefined)";
    os << "Tensor" << t.shape() << " {";
    long n = t.numel();
    long shown = std::min<long>(n, 12);
    for (long i = 0; i < shown; ++i) os << (i ? ", " : "") << std::setprecision(10) << t[i];
    if (shown < n) os << ", ...";
    return os << "}";
}

}  // namespace ad
