// The reverse-mode engine. Every op records a Node {name, inputs, backward}; grad() walks the
// nodes between outputs and inputs in reverse topological order and calls each backward.
// Backward functions are written with public ops, so with CreateGraph::yes they record a graph
// of their own and can be differentiated again (forces, Hessian-vector products).
#pragma once
#include <functional>
#include <vector>

#include "autodiff/tensor.hpp"

namespace ad {

using Grads = std::vector<Tensor>;  ///< one gradient per op input; undefined = none

/// What an op's backward sees: its output (never capture it: a shared_ptr cycle), its inputs and
/// which inputs need a gradient.
struct Ctx {
    const Tensor& out;
    const std::vector<Tensor>& in;
    const std::vector<char>& needs;
    /// With recording off, into[k] (when not null) is the engine's running sum of input k's
    /// gradient, [in[k].shape()] and held by no one else: a backward may add its gradient there
    /// itself (a product with beta = 1 instead of a product into a fresh buffer and an add) and
    /// return an undefined gradient for k. Null (or into == nullptr) otherwise.
    const std::vector<double*>* into = nullptr;
    double* accumulate_into(size_t k) const { return into ? (*into)[k] : nullptr; }
};

using BackwardFn = std::function<Grads(const Tensor& g, const Ctx& c)>;

struct Node {
    const char* name;
    std::vector<Tensor> inputs;
    std::vector<char> needs;  ///< inputs[k].requires_grad() at record time
    BackwardFn backward;
    TensorImpl* out = nullptr;  ///< the output owns this node; never dangling while reachable
};

/// Whether ops record graph nodes on this thread (off inside NoGrad and backward without
/// create_graph).
bool grad_enabled();

/// RAII: while alive, ops record nothing (inference, optimiser updates).
class NoGrad {
  public:
    NoGrad();
    ~NoGrad();
    NoGrad(const NoGrad&) = delete;
    NoGrad& operator=(const NoGrad&) = delete;

  private:
    bool previous_;
};

/// RAII: sets grad mode on or off while alive.
class GradMode {
  public:
    explicit GradMode(bool enabled);
    ~GradMode();
    GradMode(const GradMode&) = delete;
    GradMode& operator=(const GradMode&) = delete;

  private:
    bool previous_;
};

/// Attaches `backward` to `out` when grad mode is on and some input requires grad; returns out.
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

enum class CreateGraph { no, yes };

/// d(sum_k <outputs[k], grad_outputs[k]>)/d(inputs[j]) for each j. grad_outputs may be empty
/// when every output has one element (then 1 is used). Inputs the outputs do not depend on get
/// zeros. With CreateGraph::yes the results carry a graph (differentiable again).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {},
                         CreateGraph create_graph = CreateGraph::no);

/// Single-output form: grad(y, {x...}, CreateGraph).
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         CreateGraph create_graph);

/// Accumulates d(output)/d(leaf) into leaf.grad() for the given leaves (all leaves that require
/// grad when `inputs` is empty), as torch's backward.
void backward(const Tensor& output, const std::vector<Tensor>& inputs = {},
              const Tensor& grad_output = Tensor(), CreateGraph create_graph = CreateGraph::no);

}  // namespace ad
