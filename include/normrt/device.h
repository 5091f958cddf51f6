#pragma once
#include <string>

namespace normrt {

enum class DeviceType { CPU, CUDA };

// Where a tensor's storage lives: the host, or one CUDA device by ordinal.
class Device {
 public:
  static Device cpu() { return Device(DeviceType::CPU, -1); }
  static Device cuda(int index = 0) { return Device(DeviceType::CUDA, index); }

  DeviceType type() const { return type_; }
  int index() const { return index_; }
  bool is_cpu() const { return type_ == DeviceType::CPU; }
  bool is_cuda() const { return type_ == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_); }

  friend bool operator==(const Device& a, const Device& b) { return a.type_ == b.type_ && a.index_ == b.index_; }
  friend bool operator!=(const Device& a, const Device& b) { return !(a == b); }

 private:
  Device(DeviceType type, int index) : type_(type), index_(index) {}
  DeviceType type_;
  int index_;
};

}  // namespace normrt
