#include "normrt/nn/module.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "normrt/error.h"
#include "normrt/grad_mode.h"
#include "op_util.h"

namespace normrt {

namespace {
thread_local bool grad_enabled = true;
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

}  // namespace normrt

namespace normrt::nn {

namespace {
// The member of `to` at the offset `member` has in `from`: both are the Module subobject of the same most-derived
// type, so their members lie at the same offsets.
Tensor* same_member(const Module& from, Module& to, Tensor* member) {
  const auto offset = reinterpret_cast<const char*>(member) - reinterpret_cast<const char*>(&from);
  return reinterpret_cast<Tensor*>(reinterpret_cast<char*>(&to) + offset);
}

std::optional<DType> floating_dtype(const Tensor& t) {
  return t.defined() && is_floating(t.dtype()) ? std::optional<DType>(t.dtype()) : std::nullopt;
}

// A gradient in the dtype of the tensor it belongs to (autograd's rule); integer and undefined ones as they are.
Tensor converted(const Tensor& grad, std::optional<DType> dtype) {
  return dtype && grad.defined() && is_floating(grad.dtype()) ? grad.to(*dtype) : grad;
}
}  // namespace

Module::Module(Module&& other) noexcept
    : training_(other.training_),
      last_(std::move(other.last_)),
      parameters_(std::move(other.parameters_)),
      buffers_(std::move(other.buffers_)),
      children_(std::move(other.children_)),
      call_hook_(std::move(other.call_hook_)) {
  for (auto& entry : parameters_) entry.second = same_member(other, *this, entry.second);
  for (auto& entry : buffers_) entry.second = same_member(other, *this, entry.second);
  other.parameters_.clear();
  other.buffers_.clear();
  other.children_.clear();
}

Tensor Module::forward(const Tensor& input) { return forward(input, last_); }
Tensor Module::backward(const Tensor& grad_output) { return backward(grad_output, last_); }

void Module::backward_parameters(const Tensor& grad_output) {
  last_.input_grad = false;
  backward(grad_output, last_);
}

Tensor Module::forward(const Tensor& input, Context& ctx) {
  ctx = Context{};
  Tensor output = forward_impl(input, ctx);
  if (is_grad_enabled()) {
    ctx.saved = true;
    ctx.input_dtype = floating_dtype(input);
    ctx.output_dtype = floating_dtype(output);
    if (call_hook_) call_hook_(*this, Pass::Forward);
  } else {
    ctx = Context{};  // nothing kept for a backward
  }
  return output;
}

Tensor Module::backward(const Tensor& grad_output, Context& ctx) {
  NORMRT_CHECK(ctx.saved, name(), ": backward() needs a preceding forward() (each forward is differentiated once, "
                                  "and none is kept under NoGradGuard)");
  Tensor grad_input = backward_impl(converted(grad_output, ctx.output_dtype), ctx);
  grad_input = converted(grad_input, ctx.input_dtype);
  ctx = Context{};
  if (call_hook_) call_hook_(*this, Pass::Backward);
  return grad_input;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

void Module::register_parameter(const std::string& name, Tensor* tensor) { parameters_.emplace_back(name, tensor); }
void Module::register_buffer(const std::string& name, Tensor* tensor) { buffers_.emplace_back(name, tensor); }
void Module::replace_child(std::size_t index, std::shared_ptr<Module> module) {
  NORMRT_CHECK(index < children_.size(), name(), ": replace_child(", index, ") of a module with ", children_.size(),
               " children");
  NORMRT_CHECK(module != nullptr, "replace_child: module '", children_[index].first, "' is null");
  const std::shared_ptr<Module> old_child = children_[index].second;
  children_[index].second = module;
  child_replaced(old_child.get(), module);
}

void Module::register_module(const std::string& name, std::shared_ptr<Module> module) {
  NORMRT_CHECK(module != nullptr, "register_module: module '", name, "' is null");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(NamedTensors& out, const std::string& prefix, bool parameters, bool recurse) const {
  for (const auto& [name, tensor] : parameters ? parameters_ : buffers_)
    if (tensor->defined()) out.emplace_back(prefix + name, *tensor);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(out, prefix + name + ".", parameters, true);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect(out, "", true, recurse);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters(recurse)) out.push_back(entry.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect(out, "", false, recurse);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_buffers(recurse)) out.push_back(entry.second);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect_state(out, "");
  return out;
}

void Module::collect_state(NamedTensors& out, const std::string& prefix) const {
  collect(out, prefix, true, false);
  collect(out, prefix, false, false);
  for (const auto& [name, child] : children_) child->collect_state(out, prefix + name + ".");
}

NamedTensors Module::with_state_defaults(const NamedTensors& state) const {
  NamedTensors defaults;
  collect_state_defaults(defaults, "");
  std::map<std::string, const Tensor*> given;
  for (const auto& [key, tensor] : state) given.emplace(key, &tensor);
  NamedTensors out = state;
  for (const auto& entry : defaults)
    if (given.count(entry.first) == 0) out.push_back(entry);
  return out;
}

void Module::collect_state_defaults(NamedTensors& out, const std::string& prefix) const {
  for (const auto& [key, tensor] : state_defaults()) out.emplace_back(prefix + key, tensor);
  for (const auto& [name, child] : children_) child->collect_state_defaults(out, prefix + name + ".");
}

LoadStateDictResult Module::load_state_dict(const NamedTensors& given_state, bool strict) {
  const NamedTensors state = with_state_defaults(given_state);
  LoadStateDictResult result = check_defaulted_state_dict(state, strict);
  std::map<std::string, const Tensor*> given;
  for (const auto& [key, tensor] : state) given.emplace(key, &tensor);
  for (auto& [key, tensor] : state_dict()) {
    const auto it = given.find(key);
    if (it == given.end()) continue;
    const Tensor& value = *it->second;
    tensor.copy_(value.dtype() == tensor.dtype() ? value : value.to(tensor.dtype()));
  }
  return result;
}

LoadStateDictResult Module::check_state_dict(const NamedTensors& state, bool strict) const {
  return check_defaulted_state_dict(with_state_defaults(state), strict);
}

LoadStateDictResult Module::check_defaulted_state_dict(const NamedTensors& state, bool strict) const {
  std::map<std::string, const Tensor*> given;
  for (const auto& [key, tensor] : state) {
    NORMRT_CHECK(given.emplace(key, &tensor).second, "load_state_dict: duplicate key '", key, "'");
  }
  // PyTorch's error_msgs, in its order and words: each entry's mismatch in the module's order, the missing and
  // unexpected keys (strict) before them, all in one refusal. normrt also refuses a dtype that does not convert.
  LoadStateDictResult result;
  std::vector<std::string> errors;
  const NamedTensors own = state_dict();
  std::map<std::string, Tensor> own_by_key(own.begin(), own.end());
  for (const auto& [key, tensor] : own) {
    const auto it = given.find(key);
    if (it == given.end()) {
      result.missing_keys.push_back(key);
      continue;
    }
    const Tensor& value = *it->second;
    if (!value.defined() || value.sizes() != tensor.sizes()) {
      errors.push_back("size mismatch for " + key + ": copying a param with shape " +
                       (value.defined() ? ops::util::torch_size_str(value.sizes()) : "undefined") +
                       " from checkpoint, the shape in current model is " +
                       ops::util::torch_size_str(tensor.sizes()) + ".");
    } else if (value.dtype() != tensor.dtype() && !(is_floating(value.dtype()) && is_floating(tensor.dtype()))) {
      errors.push_back("dtype mismatch for " + key + ": copying a " + dtype_name(value.dtype()) +
                       " param from checkpoint, the dtype in current model is " + dtype_name(tensor.dtype()) +
                       " (only floating dtypes convert)");
    }
  }
  for (const auto& [key, tensor] : state)
    if (own_by_key.count(key) == 0) result.unexpected_keys.push_back(key);
  const auto listed = [](const std::vector<std::string>& keys) {
    std::string out;
    for (const std::string& key : keys) out += (out.empty() ? "\"" : ", \"") + key + "\"";
    return out + ". ";
  };
  if (strict && !result.unexpected_keys.empty())
    errors.insert(errors.begin(), "Unexpected key(s) in state_dict: " + listed(result.unexpected_keys));
  if (strict && !result.missing_keys.empty())
    errors.insert(errors.begin(), "Missing key(s) in state_dict: " + listed(result.missing_keys));
  if (!errors.empty()) {
    std::string joined;
    for (const std::string& error : errors) joined += "\n\t" + error;
    NORMRT_THROW("Error(s) in loading state_dict for ", name(), ":", joined);
  }
  return result;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& entry : children_) out.push_back(entry.second);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out = {{"", this}};
  for (const auto& [name, child] : children_)
    for (const auto& [sub, module] : child->named_modules())
      out.emplace_back(sub.empty() ? name : name + "." + sub, module);
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (const auto& entry : named_modules()) out.push_back(entry.second);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& entry : children_) entry.second->apply(fn);
  fn(*this);
}

namespace {
// PyTorch's Module.__repr__: a lone line of extra_repr inline; otherwise its lines, then the children, one per line.
void print_module(std::ostream& os, const Module& m, const std::string& indent) {
  os << m.name() << '(';
  const std::string extra = m.extra_repr();
  const auto& children = m.named_children();
  if (children.empty() && extra.find('\n') == std::string::npos) {
    os << extra << ')';
    return;
  }
  if (!extra.empty()) {
    std::size_t start = 0;
    for (std::size_t end; (end = extra.find('\n', start)) != std::string::npos; start = end + 1)
      os << '\n' << indent << "  " << extra.substr(start, end - start);
    os << '\n' << indent << "  " << extra.substr(start);
  }
  for (const auto& [name, child] : children) {
    os << '\n' << indent << "  (" << name << "): ";
    print_module(os, *child, indent + "  ");
  }
  os << '\n' << indent << ')';
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Module& module) {
  print_module(os, module, "");
  return os;
}

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // The shortest digits that read back as `value`, then Python's layout: fixed for exponents in [-4, 16).
  char buf[40];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  const std::string text = buf;
  const std::size_t e = text.find('e');
  const int exponent = std::stoi(text.substr(e + 1));
  std::string mantissa;
  for (char c : text.substr(0, e))
    if (std::isdigit(static_cast<unsigned char>(c))) mantissa += c;
  const std::string sign = value < 0 ? "-" : "";
  const int k = static_cast<int>(mantissa.size());
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= k - 1)
      return sign + mantissa + std::string(static_cast<std::size_t>(exponent - (k - 1)), '0') + ".0";
    if (exponent >= 0) return sign + mantissa.substr(0, exponent + 1) + "." + mantissa.substr(exponent + 1);
    return sign + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + mantissa;
  }
  std::string out = sign + mantissa.substr(0, 1);
  if (k > 1) out += "." + mantissa.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

template <typename Fn>
void Module::for_each_tensor_slot(Fn fn) {
  for (auto& entry : parameters_) fn(*entry.second, true);
  for (auto& entry : buffers_) fn(*entry.second, false);
  for (auto& entry : children_) entry.second->for_each_tensor_slot(fn);
}

void Module::zero_grad() {
  for_each_tensor_slot([](Tensor& t, bool is_parameter) {
    if (is_parameter && t.defined()) t.mutable_grad() = Tensor();
  });
}

void Module::to(const Device& device) {
  for_each_tensor_slot([&device](Tensor& t, bool) {
    if (t.defined() && t.device() != device) t.set_data(t.to(device));
  });
}

void Module::to(MemoryFormat format) {
  const int64_t rank = format == MemoryFormat::ChannelsLast ? 4 : format == MemoryFormat::ChannelsLast3d ? 5 : 0;
  for_each_tensor_slot([&](Tensor& t, bool) {
    if (!t.defined() || t.memory_format() == format || (rank != 0 && t.dim() != rank)) return;
    const Tensor grad = t.grad();
    t.set_data(t.to(format));
    t.mutable_grad() = grad;
  });
}

// Under NoGradGuard nothing is kept: the handle stays empty, and backward() reports the missing forward.
SavedTensor::SavedTensor(Tensor tensor)
    : tensor_(is_grad_enabled() ? std::move(tensor) : Tensor()), version_(tensor_.defined() ? tensor_.version() : 0) {}

const Tensor& SavedTensor::get(const std::string& module) const {
  NORMRT_CHECK(tensor_.defined(), module, ": backward() needs a preceding forward() (outside NoGradGuard)");
  NORMRT_CHECK(tensor_.version() == version_,
               "one of the variables needed for gradient computation has been modified by an inplace operation: [",
               dtype_name(tensor_.dtype()), " ", shape_str(tensor_.sizes()), "], saved by ", module, ", is at version ",
               tensor_.version(), "; expected version ", version_, " instead");
  return tensor_;
}

}  // namespace normrt::nn
