#include "autodiff/graph.hpp"

#include <unordered_map>
#include <unordered_set>

#include "autodiff/ops.hpp"

namespace ad {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }

NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }
GradMode::GradMode(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradMode::~GradMode() { g_grad_enabled = previous_; }

namespace {
// Frees a node without recursion. Freeing a long chain (x -> op -> op -> ..., 1e5 deep) by nested
// destructors (node -> input tensor -> its node -> ...) would overflow the stack, so each node's
// inputs are parked on a per-thread list that the outermost call releases one at a time.
struct NodeDeleter {
    void operator()(Node* node) const {
        struct Pending {
            std::vector<Tensor> tensors;
            bool draining = false;
        };
        // leaked, like the buffer pool: nodes owned by static tensors may die after thread-locals
        thread_local Pending* pending = new Pending();
        Pending& p = *pending;
        const bool outermost = !p.draining;
        p.draining = true;
        for (Tensor& t : node->inputs) p.tensors.push_back(std::move(t));
        delete node;
        if (!outermost) return;
        while (!p.tensors.empty()) {
            Tensor t = std::move(p.tensors.back());
            p.tensors.pop_back();
        }  // t's destructor may free more nodes; they only append to the list
        p.draining = false;
    }
};
}  // namespace

Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
    if (!g_grad_enabled) return out;
    std::vector<char> needs(inputs.size());
    bool any = false;
    for (size_t k = 0; k < inputs.size(); ++k) {
        needs[k] = inputs[k].requires_grad();
        any = any || needs[k];
    }
    if (!any) return out;
    std::shared_ptr<Node> node(new Node(), NodeDeleter());
    node->name = name;
    node->inputs = std::move(inputs);
    node->needs = std::move(needs);
    node->backward = std::move(backward);
    node->out = &out.impl();
    out.impl().grad_fn = std::move(node);
    out.impl().requires_grad = true;
    return out;
}

namespace {

// Nodes reachable from the outputs, in post-order (every node after the nodes of its inputs),
// found with an explicit stack so deep graphs cannot overflow the call stack.
std::vector<Node*> topological_order(const std::vector<Tensor>& outputs) {
    std::vector<Node*> order;
    std::unordered_set<Node*> seen;
    std::vector<std::pair<Node*, size_t>> stack;
    for (const Tensor& o : outputs) {
        Node* root = o.defined() ? o.impl().grad_fn.get() : nullptr;
        if (!root || !seen.insert(root).second) continue;
        stack.push_back({root, 0});
        while (!stack.empty()) {
            auto& [node, next] = stack.back();
            if (next < node->inputs.size()) {
                const Tensor& in = node->inputs[next++];
                Node* child = in.defined() ? in.impl().grad_fn.get() : nullptr;
                if (child && seen.insert(child).second) stack.push_back({child, 0});
            } else {
                order.push_back(node);
                stack.pop_back();
            }
        }
    }
    return order;
}

// The core walk. `targets` are the tensors whose gradients are wanted; with `all_leaves`, every
// leaf that requires grad is a target. Returns the accumulated gradient per target impl.
std::unordered_map<TensorImpl*, Tensor> run_backward(const std::vector<Tensor>& outputs,
                                                     const std::vector<Tensor>& grad_outputs,
                                                     std::unordered_set<TensorImpl*> targets,
                                                     bool all_leaves, CreateGraph create_graph) {
    std::vector<Node*> order = topological_order(outputs);

    // needed[node]: some target lies upstream of (or is) the node's output.
    std::unordered_map<Node*, std::vector<char>> input_needed;
    std::unordered_set<Node*> needed;
    for (Node* node : order) {
        std::vector<char> nk(node->inputs.size(), 0);
        bool any = false;
        for (size_t k = 0; k < node->inputs.size(); ++k) {
            if (!node->needs[k]) continue;
            TensorImpl* in = &node->inputs[k].impl();
            bool leaf_target = all_leaves ? in->grad_fn == nullptr : false;
            if (leaf_target && in->requires_grad) targets.insert(in);
            nk[k] = targets.count(in) || (in->grad_fn && needed.count(in->grad_fn.get()));
            any = any || nk[k];
        }
        if (any) {
            needed.insert(node);
            input_needed.emplace(node, std::move(nk));
        }
    }

    std::unordered_map<TensorImpl*, Tensor> grads;
    // Without create_graph nothing records; a running sum that no one else holds (neither its
    // handle nor its storage) can be added to in place instead of allocating a new buffer.
    auto in_place = [](const Tensor& sum, const Shape& shape) {
        return !grad_enabled() && sum.defined() && sum.shape() == shape && sum.impl_ptr().use_count() == 1 &&
               sum.impl().buffer.use_count() == 1 && sum.is_leaf();
    };
    auto accumulate = [&](TensorImpl* impl, const Tensor& g) {
        auto it = grads.find(impl);
        if (it == grads.end() || !it->second.defined())
            grads[impl] = g;
        else if (in_place(it->second, g.shape())) {
            double* __restrict acc = it->second.data();
            const double* __restrict pg = g.data();
            const long n = g.numel();
            for (long i = 0; i < n; ++i) acc[i] += pg[i];
        } else {
            it->second = add(it->second, g);
        }
    };
    for (size_t k = 0; k < outputs.size(); ++k) {
        const Tensor& o = outputs[k];
        Tensor go = k < grad_outputs.size() ? grad_outputs[k] : Tensor();
        if (!go.defined()) {
            AD_CHECK(o.numel() == 1, "grad: expected grad_outputs for an output of shape "
                                         << o.shape() << "; only one-element outputs default to 1");
            go = Tensor::ones(o.shape());
        }
        AD_CHECK(go.shape() == o.shape(), "grad: expected grad_outputs[" << k << "] of shape "
                                                                         << o.shape() << ", got " << go.shape());
        accumulate(&o.impl(), go);
    }

    GradMode mode(create_graph == CreateGraph::yes);
    for (size_t idx = order.size(); idx-- > 0;) {
        Node* node = order[idx];
        if (!needed.count(node)) continue;
        auto git = grads.find(node->out);
        if (git == grads.end() || !git->second.defined()) continue;
        Tensor g = git->second;
        if (!targets.count(node->out)) grads.erase(git);  // free memory as we go
        const std::vector<char>& nk = input_needed[node];
        Tensor out(node->out->shared_from_this());
        std::vector<double*> into;  // running sums the backward may add to itself (Ctx::into)
        if (!grad_enabled()) {
            into.assign(node->inputs.size(), nullptr);
            for (size_t k = 0; k < node->inputs.size(); ++k) {
                if (!nk[k]) continue;
                auto it = grads.find(&node->inputs[k].impl());
                if (it != grads.end() && in_place(it->second, node->inputs[k].shape())) into[k] = it->second.data();
            }
        }
        Grads gin = node->backward(g, Ctx{out, node->inputs, nk, into.empty() ? nullptr : &into});
        AD_CHECK(gin.size() == node->inputs.size(), "grad: op '" << node->name << "' returned "
                                                                 << gin.size() << " gradients for "
                                                                 << node->inputs.size() << " inputs");
        for (size_t k = 0; k < gin.size(); ++k) {
            if (!nk[k] || !gin[k].defined()) continue;
            AD_CHECK(gin[k].shape() == node->inputs[k].shape(),
                     "grad: op '" << node->name << "' produced a gradient of shape " << gin[k].shape()
                                  << " for input " << k << " of shape " << node->inputs[k].shape());
            accumulate(&node->inputs[k].impl(), gin[k]);
        }
    }
    return grads;
}

}  // namespace

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, CreateGraph create_graph) {
    std::unordered_set<TensorImpl*> targets;
    for (const Tensor& x : inputs) {
        AD_CHECK(x.requires_grad(), "grad: expected inputs that require grad; call set_requires_grad()");
        targets.insert(&x.impl());
    }
    auto grads = run_backward(outputs, grad_outputs, targets, false, create_graph);
    std::vector<Tensor> result;
    result.reserve(inputs.size());
    for (const Tensor& x : inputs) {
        auto it = grads.find(&x.impl());
        result.push_back(it != grads.end() && it->second.defined() ? it->second : Tensor::zeros(x.shape()));
    }
    return result;
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, CreateGraph create_graph) {
    return grad(std::vector<Tensor>{output}, inputs, {}, create_graph);
}

void backward(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output,
              CreateGraph create_graph) {
    std::unordered_set<TensorImpl*> targets;
    for (const Tensor& x : inputs) targets.insert(&x.impl());
    auto grads = run_backward({output}, {grad_output}, targets, inputs.empty(), create_graph);
    for (auto& [impl, g] : grads) {
        if (!g.defined() || !impl->requires_grad) continue;
        // the listed tensors, or with no list every leaf (as torch's backward)
        const bool wanted = inputs.empty() ? impl->grad_fn == nullptr : targets.count(impl) > 0;
        if (!wanted) continue;
        Tensor leaf(impl->shared_from_this());
        Tensor old = leaf.grad();
        leaf.set_grad(old.defined() ? add(old, g) : (create_graph == CreateGraph::yes ? g : g.detach()));
    }
}

}  // namespace ad
