#include "normrt/nn/module.h"

#include <map>

#include "normrt/error.h"

namespace normrt::nn {

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

void Module::register_parameter(const std::string& name, Tensor* tensor) { parameters_.emplace_back(name, tensor); }
void Module::register_buffer(const std::string& name, Tensor* tensor) { buffers_.emplace_back(name, tensor); }
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

void Module::load_state_dict(const NamedTensors& state) {
  check_state_dict(state);
  std::map<std::string, const Tensor*> given;
  for (const auto& [key, tensor] : state) given.emplace(key, &tensor);
  for (auto& [key, tensor] : state_dict()) tensor.copy_(*given.at(key));
}

void Module::check_state_dict(const NamedTensors& state) const {
  std::map<std::string, const Tensor*> given;
  for (const auto& [key, tensor] : state) {
    NORMRT_CHECK(given.emplace(key, &tensor).second, "load_state_dict: duplicate key '", key, "'");
  }
  const NamedTensors own = state_dict();
  std::map<std::string, Tensor> own_by_key(own.begin(), own.end());
  for (const auto& [key, tensor] : own) {
    const auto it = given.find(key);
    NORMRT_CHECK(it != given.end(), "load_state_dict: missing key '", key, "' in state_dict");
    const Tensor& value = *it->second;
    NORMRT_CHECK(value.defined() && value.sizes() == tensor.sizes() && value.dtype() == tensor.dtype(),
                 "load_state_dict: size mismatch for '", key, "': copying a param with shape ",
                 value.defined() ? shape_str(value.sizes()) : "undefined", " (",
                 value.defined() ? dtype_name(value.dtype()) : "", "), the shape in current model is ",
                 shape_str(tensor.sizes()), " (", dtype_name(tensor.dtype()), ")");
  }
  for (const auto& entry : given) {
    NORMRT_CHECK(own_by_key.count(entry.first) != 0, "load_state_dict: unexpected key '", entry.first,
                 "' in state_dict");
  }
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

SavedTensor::SavedTensor(Tensor tensor) : tensor_(std::move(tensor)), version_(tensor_.defined() ? tensor_.version() : 0) {}

const Tensor& SavedTensor::get(const std::string& module) const {
  NORMRT_CHECK(tensor_.defined(), module, ": backward() needs a preceding forward()");
  NORMRT_CHECK(tensor_.version() == version_,
               "one of the variables needed for gradient computation has been modified by an inplace operation: [",
               dtype_name(tensor_.dtype()), " ", shape_str(tensor_.sizes()), "], saved by ", module, ", is at version ",
               tensor_.version(), "; expected version ", version_, " instead");
  return tensor_;
}

}  // namespace normrt::nn
