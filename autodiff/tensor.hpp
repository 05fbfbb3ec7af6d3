// Tensor: a handle to a row-major float64 array with autodiff bookkeeping.
// Copies of a Tensor share storage (like torch tensors); clone() copies data.
// Storage comes from a per-thread pool of freed buffers, so training loops that allocate the same
// shapes every step stop touching fresh pages after the first step (a page fault costs ~15 us).
#pragma once
#include <initializer_list>
#include <memory>
#include <vector>

#include "autodiff/error.hpp"
#include "autodiff/shape.hpp"

namespace ad {

struct Node;

/// A contiguous block of doubles, returned to the pool when the last user lets go.
struct Buffer {
    double* data = nullptr;
    size_t size = 0;
    explicit Buffer(size_t n);  ///< uninitialised
    ~Buffer();
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
};

struct TensorImpl : std::enable_shared_from_this<TensorImpl> {
    Shape shape;
    std::shared_ptr<Buffer> buffer;
    double* data = nullptr;  ///< == buffer->data (views are not offset)
    bool requires_grad = false;
    std::shared_ptr<Node> grad_fn;  ///< the op that produced this tensor (null for leaves)
    std::shared_ptr<TensorImpl> grad;  ///< accumulated by ad::backward for leaves
};

class Tensor {
  public:
    Tensor() = default;  ///< undefined tensor ("no gradient")
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // ---- construction (no graph) ----
    static Tensor empty(const Shape& shape);  ///< uninitialised values
    static Tensor zeros(const Shape& shape);
    static Tensor ones(const Shape& shape);
    static Tensor full(const Shape& shape, double value);
    static Tensor scalar(double value);  ///< shape []
    /// Shares `src`'s storage under a new shape with the same number of elements (no graph).
    static Tensor view_of(const Tensor& src, const Shape& shape);

    // ---- inspection ----
    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const { return impl().shape; }
    long ndim() const { return static_cast<long>(impl().shape.size()); }
    long dim(long axis) const;  ///< size of an axis; negative axes count from the end
    long numel() const { return ad::numel(impl().shape); }
    double* data() const { return impl().data; }
    double item() const;  ///< the value of a one-element tensor
    double operator[](long flat) const { return impl().data[flat]; }
    std::vector<double> to_vector() const;

    // ---- autodiff ----
    bool requires_grad() const { return defined() && impl_->requires_grad; }
    /// Marks a leaf as a variable to differentiate with respect to; returns *this.
    Tensor& set_requires_grad(bool on = true);
    const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
    bool is_leaf() const { return impl().grad_fn == nullptr; }
    Tensor grad() const;  ///< accumulated gradient (undefined before the first backward)
    void set_grad(const Tensor& g);
    void zero_grad();  ///< drops the accumulated gradient
    Tensor detach() const;  ///< same storage, no graph
    Tensor clone() const;  ///< fresh copy of the values, no graph

    TensorImpl& impl() const {
        AD_CHECK(impl_ != nullptr, "tensor: expected a defined tensor, got an undefined one");
        return *impl_;
    }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
    bool same(const Tensor& o) const { return impl_ == o.impl_; }

  private:
    std::shared_ptr<TensorImpl> impl_;
};

/// A tensor from values, row-major: ad::tensor({2, 2}, {1, 2, 3, 4}).
Tensor tensor(const Shape& shape, const std::vector<double>& values);
/// A 1-D tensor from values.
Tensor tensor(const std::vector<double>& values);

/// Prints shape and values (for tests and debugging).
std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// Releases the buffers cached by this thread's pool (for memory measurements).
void release_buffer_pool();

}  // namespace ad
