// nn::Module: the base of every layer. A module owns named parameters and buffers (registered by pointer to its
// own Tensor members) and named children; forward() keeps what backward() needs in a Context (the module's own,
// or one per call), and backward(grad_output) returns the input gradient and accumulates parameter gradients into
// each parameter's grad().
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::nn {

// Ordered (name, tensor) pairs with PyTorch-style dotted keys: "0.weight", "1.running_mean".
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// A tensor a forward() keeps for its backward(), with the tensor's version at that moment. get() refuses it, with
// PyTorch's error, when an in-place operation (ops::add_, copy_, an optimizer step, ...) changed it since: the
// gradient would silently use the new values.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(Tensor tensor);  // NOLINT: saving is an assignment, as in PyTorch's ctx.save_for_backward
  bool defined() const { return tensor_.defined(); }
  // The saved tensor, checked; `module` names the saver in the error.
  const Tensor& get(const std::string& module) const;
  void reset() { tensor_ = Tensor(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

// What one forward keeps for its backward: tensors (checked for in-place changes), small values (a shape, a
// dropout offset, flags) and, for containers, one context per child.
struct Context {
  std::vector<SavedTensor> tensors;
  std::vector<int64_t> values;
  std::vector<Context> children;
  bool saved = false;  // a forward filled it (outside NoGradGuard) and no backward has consumed it
  // Whether the backward's caller wants the input gradient. False (backward_parameters, or a container for its
  // leading child) lets a layer skip computing it; what it returns is then undefined or ignored.
  bool input_grad = true;
  // The dtypes of the forward's floating input and output (Module::forward records them): backward() takes the
  // gradient in the output's dtype and returns it in the input's, converting as autograd does (mixed precision).
  std::optional<DType> input_dtype, output_dtype;
};

// What load_state_dict(state, strict = false) did not match, as PyTorch's _IncompatibleKeys.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     // in the module, not in `state` (left as they were)
  std::vector<std::string> unexpected_keys;  // in `state`, not in the module (ignored)
};

class Module {
 public:
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module& operator=(Module&&) = delete;

  // One call at a time: forward keeps its context in the module (replacing the previous one) and backward
  // consumes it.
  Tensor forward(const Tensor& input);
  Tensor backward(const Tensor& grad_output);
  // The parameter gradients of the last forward only, for an input that needs no gradient (a network's data, what
  // PyTorch knows from requires_grad=False): Linear and convolutions skip their input-gradient GEMMs, and
  // Sequential does not differentiate its leading layers without parameters.
  void backward_parameters(const Tensor& grad_output);
  // Several calls in flight (weight sharing, a siamese pair, a module used twice in one network): each forward
  // fills its own context and the backward given that context differentiates that call, in any order; the
  // gradients of the shared parameters accumulate. A context is consumed by its backward.
  Tensor forward(const Tensor& input, Context& ctx);
  Tensor backward(const Tensor& grad_output, Context& ctx);
  // Type name as PyTorch prints it, e.g. "BatchNorm2d".
  virtual std::string name() const = 0;
  // The arguments PyTorch's repr shows inside the parentheses, e.g. "in_features=784, out_features=256, bias=True".
  virtual std::string extra_repr() const { return ""; }

  // Sets training mode on this module and every descendant.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  // Module by module, as PyTorch: this module's parameters, then its buffers, then each child's state in turn.
  NamedTensors state_dict() const;
  // Copies values in place, as PyTorch loads a plain dict (a safetensors file's). With strict, every key must match
  // exactly (no missing, no unexpected); without, the keys present in both are loaded and the others reported.
  // Shapes must match either way; a floating value converts to the module's floating dtype (a float16 checkpoint
  // loads into a float32 model), other dtypes must match. Keys a module can default are filled in first (BatchNorm's
  // num_batches_tracked, which checkpoints before PyTorch 0.4.1 lack: 0). A call that throws has changed nothing and
  // says everything wrong at once, in PyTorch's words ("Error(s) in loading state_dict for BatchNorm1d:\n\tMissing
  // key(s) in state_dict: \"running_mean\". ", then the unexpected keys, then each size mismatch).
  LoadStateDictResult load_state_dict(const NamedTensors& state, bool strict = true);
  // The checks of load_state_dict alone: throws as it would, changes nothing.
  LoadStateDictResult check_state_dict(const NamedTensors& state, bool strict = true) const;

  // Direct children in registration order, and every module of the tree in pre-order with dotted names (this
  // module first, named ""), as PyTorch's children()/named_children()/modules()/named_modules(). The pointers of
  // named_modules() are views into this tree, valid while it lives.
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<Module*> modules();
  // Puts `module` in the place of direct child `index` (named_children() order) under the same name, as assigning a
  // submodule attribute does in PyTorch; a container that holds its children by type follows (child_replaced).
  void replace_child(std::size_t index, std::shared_ptr<Module> module);
  // Calls fn on every descendant, children before parents, then on this module (PyTorch's apply).
  void apply(const std::function<void(Module&)>& fn);
  // Resets every parameter gradient to undefined.
  void zero_grad();
  // Moves every parameter and buffer to `device` in place (gradients are dropped): each keeps its identity, so an
  // optimizer built before the move steps the moved tensors, as in libtorch.
  void to(const Device& device);
  // Lays every 4-d parameter and buffer out in ChannelsLast (5-d ones for ChannelsLast3d; Contiguous: every one back)
  // in place, keeping identities and gradients: PyTorch's module.to(memory_format=...). A channels-last network's
  // convolutions on cuDNN then read their weights as they lie and keep their gradients channels-last.
  void to(MemoryFormat format);

  // Called after each forward that keeps a context (grad mode on) and after each backward through this module, with
  // the module and which one ran; after the last backward of the calls in flight, this module's own parameters have
  // their gradients for the step. What DistributedDataParallel starts communication from. One hook per module
  // (setting replaces it; an empty function clears it).
  enum class Pass { Forward, Backward };
  using CallHook = std::function<void(Module&, Pass)>;
  void set_call_hook(CallHook hook) { call_hook_ = std::move(hook); }

 protected:
  Module() = default;
  // Moving a module (what Sequential(Linear(4, 3), ReLU()) does) re-points the registered tensors at the moved
  // members: the tensors keep their identity (an optimizer holding them still steps them); the moved-from module
  // is left empty. This is why register_parameter/register_buffer must be given Tensor members of the module
  // itself; a module that registers tensors held elsewhere must delete its move constructor.
  Module(Module&& other) noexcept;
  // What a module implements: forward_impl computes the output and puts into ctx what backward_impl needs (the
  // SavedTensors stay empty under NoGradGuard); backward_impl returns the input gradient and accumulates parameter
  // gradients.
  virtual Tensor forward_impl(const Tensor& input, Context& ctx) = 0;
  virtual Tensor backward_impl(const Tensor& grad_output, Context& ctx) = 0;
  void register_parameter(const std::string& name, Tensor* tensor);
  void register_buffer(const std::string& name, Tensor* tensor);
  void register_module(const std::string& name, std::shared_ptr<Module> module);
  // After replace_child: a container keeping its own pointers to its children points the one at `old_child` to
  // `replacement`.
  virtual void child_replaced(const Module* old_child, const std::shared_ptr<Module>& replacement) {
    (void)old_child;
    (void)replacement;
  }
  // Values this module loads for keys a state_dict lacks (relative to the module), as PyTorch's
  // _load_from_state_dict upgrades old checkpoints.
  virtual NamedTensors state_defaults() const { return {}; }

 private:
  void collect(NamedTensors& out, const std::string& prefix, bool parameters, bool recurse) const;
  void collect_state(NamedTensors& out, const std::string& prefix) const;
  // `state` and, for the keys it lacks, the state_defaults() of every module in this tree.
  NamedTensors with_state_defaults(const NamedTensors& state) const;
  // check_state_dict of a state with_state_defaults has filled in.
  LoadStateDictResult check_defaulted_state_dict(const NamedTensors& state, bool strict) const;
  void collect_state_defaults(NamedTensors& out, const std::string& prefix) const;
  template <typename Fn>
  void for_each_tensor_slot(Fn fn);

  bool training_ = true;
  Context last_;  // the one-call form's context
  std::vector<std::pair<std::string, Tensor*>> parameters_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  CallHook call_hook_;
};

// PyTorch's repr: "Linear(in_features=4, out_features=3, bias=True)", containers one child per line.
std::ostream& operator<<(std::ostream& os, const Module& module);
// A double as Python's repr() shows it (1e-05, 0.1, 100000.0), for reprs that match PyTorch's.
std::string python_float_repr(double value);

}  // namespace normrt::nn
